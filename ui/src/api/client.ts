// The one place that talks to the product's API. Every URL is built relative to a base (the
// page's own URL by default) so the same build works at `/` and under a proxy path.

import { authHeaders, type Credentials } from "./credentials";
import type { ApiErrorBody, KubernetesStatus, PrimaryKey, SessionList, TrendInterval, UsageReport, UsageSummary, UsageTrends } from "./types";

/**
 * Where each resource lives relative to the base, and who authenticates the viewer. Standalone
 * mode serves the API beside the page and signs in with a license key or a bearer token; the
 * aggregated mode reaches the API through kube-apiserver, which has authenticated the viewer
 * before the request arrives.
 */
export interface ApiMode {
  name: "standalone" | "aggregated";
  usagePath: string;
  trendsPath: string;
  summaryPath: string;
  sessionsPath: string;
  /** Whether the dashboard asks for credentials and sends them with every request. */
  signIn: boolean;
}

export const STANDALONE_MODE: ApiMode = {
  name: "standalone",
  usagePath: "api/v1/reports/usage",
  trendsPath: "api/v1/reports/usage/trends",
  summaryPath: "api/v1/reports/usage/summary",
  sessionsPath: "api/v1/reports/usage/sessions",
  signIn: true,
};

/** `all-time` is the MirrordUsageReport the controller creates; the query's range overrides its period. */
export const AGGREGATED_MODE: ApiMode = {
  name: "aggregated",
  usagePath: "../usagereports/all-time",
  trendsPath: "../usagereports/all-time/trends",
  summaryPath: "../usagereports/all-time/summary",
  sessionsPath: "../mirrordsessions",
  signIn: false,
};

/** Where kube-apiserver serves the dashboard (after `kubectl proxy`'s own prefix, if any). */
export const AGGREGATED_DASHBOARD_PATH = "/apis/analytics.mirrord.metalbear.co/v1alpha1/dashboard";

export interface DetectedMode {
  mode: ApiMode;
  /** Absolute URL the mode's paths are resolved against. */
  base: string;
}

/**
 * The mode the page was opened in, from its URL. Under the aggregated path the base is the
 * dashboard's own directory, so `../usagereports` names the API group version whether the page
 * was opened as `dashboard/`, `dashboard/index.html` or `dashboard` (which the server redirects).
 */
export function detectApiMode(pageUrl: string): DetectedMode {
  const url = new URL(pageUrl);
  const at = url.pathname.indexOf(AGGREGATED_DASHBOARD_PATH);
  const end = at + AGGREGATED_DASHBOARD_PATH.length;
  if (at >= 0 && (end === url.pathname.length || url.pathname[end] === "/")) {
    return { mode: AGGREGATED_MODE, base: new URL(`${url.pathname.slice(0, end)}/`, url).toString() };
  }
  return { mode: STANDALONE_MODE, base: pageUrl };
}

export type ApiErrorKind = "unauthorized" | "forbidden" | "unreachable" | "failed";

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly status: number | null;
  /** Machine-readable cause: the standalone API's `error`, or a Kubernetes `Status`'s `reason`. */
  readonly code: string | null;
  readonly details: unknown[];
  /** Whether the answer was a Kubernetes `Status` (from kube-apiserver or the aggregated API). */
  readonly fromKubernetes: boolean;

  constructor(
    kind: ApiErrorKind,
    message: string,
    status: number | null = null,
    code: string | null = null,
    details: unknown[] = [],
    fromKubernetes = false,
  ) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.details = details;
    this.fromKubernetes = fromKubernetes;
  }
}

export interface RangeQuery {
  from: Date;
  to: Date;
  primaryKey: PrimaryKey;
  /** Only the users without a session in the last N days of the range. */
  inactiveDays?: number;
}

export interface TrendQuery extends RangeQuery {
  interval: TrendInterval;
}

/** A page of the session log: sessions running in [from, to), filtered, after a token. */
export interface SessionLogQuery {
  from: Date;
  to: Date;
  user?: string;
  namespace?: string;
  ci?: boolean;
  closeReason?: string;
  limit: number;
  continueToken?: string;
}

/** The files the usage report comes as. */
export type ReportFormat = "csv" | "xlsx";

export interface Download {
  blob: Blob;
  filename: string;
}

export interface ApiClientOptions {
  /** Sent only in a mode with sign-in; behind kube-apiserver the proxy adds the viewer's own. */
  credentials?: Credentials | null;
  /** Absolute URL the API paths are resolved against; defaults to the page's base URL. */
  base?: string;
  mode?: ApiMode;
  fetch?: typeof fetch;
}

export interface ApiClient {
  readonly mode: ApiMode;
  url(path: string, params: Record<string, string>): string;
  usageReport(query: RangeQuery, signal?: AbortSignal): Promise<UsageReport>;
  trends(query: TrendQuery, signal?: AbortSignal): Promise<UsageTrends>;
  /** The range's headline figures without per-user rows. */
  summary(query: RangeQuery, signal?: AbortSignal): Promise<UsageSummary>;
  /** One page of the session audit log. */
  sessions(query: SessionLogQuery, signal?: AbortSignal): Promise<SessionList>;
  downloadReport(query: RangeQuery, format: ReportFormat, signal?: AbortSignal): Promise<Download>;
}

/** RFC 3339 in UTC without milliseconds: `2026-11-02T10:00:00Z`. */
export function toRfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function rangeParams(query: RangeQuery): Record<string, string> {
  const params: Record<string, string> = { from: toRfc3339(query.from), to: toRfc3339(query.to), primaryKey: query.primaryKey };
  if (query.inactiveDays !== undefined) params.inactiveDays = String(query.inactiveDays);
  return params;
}

interface ErrorSaid {
  message: string;
  code: string | null;
  details: unknown[];
  fromKubernetes: boolean;
}

/**
 * Reads the standalone API's `{error, message, details}` or, on the aggregated API's paths, a
 * Kubernetes `Status`; null when the body has no message to show.
 */
export function parseErrorBody(body: unknown): ErrorSaid | null {
  if (typeof body !== "object" || body === null) return null;
  const message = (body as { message?: unknown }).message;
  if (typeof message !== "string" || !message) return null;
  if ((body as { kind?: unknown }).kind === "Status") {
    const status = body as Partial<KubernetesStatus>;
    const causes = status.details?.causes;
    return {
      message,
      code: typeof status.reason === "string" && status.reason ? status.reason : null,
      details: Array.isArray(causes) ? causes.map((cause) => cause?.message ?? cause) : [],
      fromKubernetes: true,
    };
  }
  const standalone = body as Partial<ApiErrorBody>;
  return {
    message,
    code: typeof standalone.error === "string" && standalone.error ? standalone.error : null,
    details: Array.isArray(standalone.details) ? standalone.details : [],
    fromKubernetes: false,
  };
}

async function readErrorBody(response: Response): Promise<ErrorSaid | null> {
  try {
    return parseErrorBody(await response.json());
  } catch {
    // Not JSON (a proxy's HTML page, for instance): fall back to the status line.
    return null;
  }
}

async function errorFromResponse(response: Response): Promise<ApiError> {
  const body = await readErrorBody(response);
  const error = (kind: ApiErrorKind, fallback: string) =>
    new ApiError(kind, body?.message ?? fallback, response.status, body?.code ?? null, body?.details ?? [], body?.fromKubernetes ?? false);
  switch (response.status) {
    case 401:
      return error("unauthorized", "The server did not accept your credentials.");
    case 403:
      return error("forbidden", "Access denied.");
    case 502:
    case 503:
    case 504:
      return error("unreachable", `The server could not be reached (HTTP ${response.status}).`);
    default:
      return error("failed", `The server answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}.`);
  }
}

function filenameFrom(response: Response, fallback: string): string {
  const disposition = response.headers.get("content-disposition") ?? "";
  const match = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disposition);
  return match?.[1] ? decodeURIComponent(match[1]) : fallback;
}

function defaultBase(): string {
  return typeof document !== "undefined" ? document.baseURI : "http://localhost/";
}

export function createApiClient(options: ApiClientOptions): ApiClient {
  const mode = options.mode ?? STANDALONE_MODE;
  const base = options.base ?? defaultBase();
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const credentialHeaders = mode.signIn && options.credentials ? authHeaders(options.credentials) : {};

  function url(path: string, params: Record<string, string>): string {
    const resolved = new URL(path, base);
    for (const [name, value] of Object.entries(params)) resolved.searchParams.set(name, value);
    return resolved.toString();
  }

  async function request(target: string, accept: string, signal?: AbortSignal): Promise<Response> {
    let response: Response;
    try {
      response = await doFetch(target, {
        headers: { Accept: accept, ...credentialHeaders },
        signal,
        credentials: "same-origin",
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ApiError("unreachable", "The server could not be reached.");
    }
    if (!response.ok) throw await errorFromResponse(response);
    return response;
  }

  async function json<T>(target: string, signal?: AbortSignal): Promise<T> {
    const response = await request(target, "application/json", signal);
    try {
      return (await response.json()) as T;
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new ApiError("failed", "The server sent a response the dashboard could not read.", response.status);
    }
  }

  return {
    mode,
    url,
    usageReport(query, signal) {
      return json<UsageReport>(url(mode.usagePath, { format: "json", ...rangeParams(query) }), signal);
    },
    trends(query, signal) {
      return json<UsageTrends>(url(mode.trendsPath, { ...rangeParams(query), interval: query.interval }), signal);
    },
    summary(query, signal) {
      return json<UsageSummary>(url(mode.summaryPath, rangeParams(query)), signal);
    },
    sessions(query, signal) {
      const params: Record<string, string> = { from: toRfc3339(query.from), to: toRfc3339(query.to), limit: String(query.limit) };
      if (query.user) params.user = query.user;
      if (query.namespace) params.namespace = query.namespace;
      if (query.ci !== undefined) params.ci = String(query.ci);
      if (query.closeReason) params.closeReason = query.closeReason;
      if (query.continueToken) params.continue = query.continueToken;
      return json<SessionList>(url(mode.sessionsPath, params), signal);
    },
    async downloadReport(query, format, signal) {
      const response = await request(url(mode.usagePath, { format, ...rangeParams(query) }), "*/*", signal);
      const day = (d: Date) => toRfc3339(d).slice(0, 10);
      const fallback = `mirrord-usage-${day(query.from)}-to-${day(query.to)}.${format}`;
      return { blob: await response.blob(), filename: filenameFrom(response, fallback) };
    },
  };
}
