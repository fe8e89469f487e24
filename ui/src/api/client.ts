// The one place that talks to the product's API. Every URL is built relative to a base (the
// page's own URL by default) so the same build works at `/` and under a proxy path.

import { authHeaders, type Credentials } from "./credentials";
import type { ApiErrorBody, PrimaryKey, TrendInterval, UsageReport, UsageTrends } from "./types";

/**
 * Where each resource lives relative to the base. Standalone mode serves the API beside the
 * page; a mode for the aggregated Kubernetes API (`../usagereports/...`) is another entry here.
 */
export interface ApiMode {
  name: string;
  usagePath: string;
  trendsPath: string;
}

export const STANDALONE_MODE: ApiMode = {
  name: "standalone",
  usagePath: "api/v1/reports/usage",
  trendsPath: "api/v1/reports/usage/trends",
};

export type ApiErrorKind = "unauthorized" | "forbidden" | "unreachable" | "failed";

export class ApiError extends Error {
  readonly kind: ApiErrorKind;
  readonly status: number | null;
  readonly code: string | null;
  readonly details: unknown[];

  constructor(kind: ApiErrorKind, message: string, status: number | null = null, code: string | null = null, details: unknown[] = []) {
    super(message);
    this.name = "ApiError";
    this.kind = kind;
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export interface RangeQuery {
  from: Date;
  to: Date;
  primaryKey: PrimaryKey;
}

export interface TrendQuery extends RangeQuery {
  interval: TrendInterval;
}

export interface Download {
  blob: Blob;
  filename: string;
}

export interface ApiClientOptions {
  credentials: Credentials;
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
  downloadReport(query: RangeQuery, format: "csv" | "xlsx", signal?: AbortSignal): Promise<Download>;
}

/** RFC 3339 in UTC without milliseconds: `2026-11-02T10:00:00Z`. */
export function toRfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

function rangeParams(query: RangeQuery): Record<string, string> {
  return { from: toRfc3339(query.from), to: toRfc3339(query.to), primaryKey: query.primaryKey };
}

async function readErrorBody(response: Response): Promise<ApiErrorBody | null> {
  try {
    const body = (await response.json()) as Partial<ApiErrorBody>;
    if (body && typeof body.message === "string") {
      return { error: String(body.error ?? ""), message: body.message, details: Array.isArray(body.details) ? body.details : [] };
    }
  } catch {
    // Not JSON (a proxy's HTML page, for instance): fall back to the status line.
  }
  return null;
}

async function errorFromResponse(response: Response): Promise<ApiError> {
  const body = await readErrorBody(response);
  const code = body?.error || null;
  const details = body?.details ?? [];
  switch (response.status) {
    case 401:
      return new ApiError("unauthorized", body?.message ?? "The server did not accept your credentials.", 401, code, details);
    case 403:
      return new ApiError("forbidden", body?.message ?? "Access denied.", 403, code, details);
    case 502:
    case 503:
    case 504:
      return new ApiError("unreachable", body?.message ?? `The server could not be reached (HTTP ${response.status}).`, response.status, code, details);
    default:
      return new ApiError(
        "failed",
        body?.message ?? `The server answered HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}.`,
        response.status,
        code,
        details,
      );
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

  function url(path: string, params: Record<string, string>): string {
    const resolved = new URL(path, base);
    for (const [name, value] of Object.entries(params)) resolved.searchParams.set(name, value);
    return resolved.toString();
  }

  async function request(target: string, accept: string, signal?: AbortSignal): Promise<Response> {
    let response: Response;
    try {
      response = await doFetch(target, {
        headers: { Accept: accept, ...authHeaders(options.credentials) },
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
    async downloadReport(query, format, signal) {
      const response = await request(url(mode.usagePath, { format, ...rangeParams(query) }), "*/*", signal);
      const day = (d: Date) => toRfc3339(d).slice(0, 10);
      const fallback = `mirrord-usage-${day(query.from)}-to-${day(query.to)}.${format}`;
      return { blob: await response.blob(), filename: filenameFrom(response, fallback) };
    },
  };
}
