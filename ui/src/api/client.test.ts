import { describe, expect, it, vi } from "vitest";
import { AGGREGATED_MODE, ApiError, createApiClient, detectApiMode, parseErrorBody, STANDALONE_MODE, toRfc3339 } from "./client";
import type { Credentials } from "./credentials";

const RANGE = {
  from: new Date("2026-11-01T00:00:00Z"),
  to: new Date("2026-11-25T12:34:56.789Z"),
  primaryKey: "machineId" as const,
};

function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function clientWith(response: Response | Error, credentials: Credentials = { kind: "licenseKey", value: "k-123" }, base = "http://host/") {
  const fetch = vi.fn<typeof globalThis.fetch>(async () => {
    if (response instanceof Error) throw response;
    return response;
  });
  return { fetch, client: createApiClient({ credentials, base, fetch }) };
}

function requestOf(fetch: ReturnType<typeof vi.fn<typeof globalThis.fetch>>): { url: string; headers: Record<string, string> } {
  const [url, init] = fetch.mock.calls[0]!;
  return { url: String(url), headers: (init?.headers ?? {}) as Record<string, string> };
}

describe("auth headers", () => {
  it("sends a license key as x-license-key", async () => {
    const { fetch, client } = clientWith(jsonResponse({}));
    await client.usageReport(RANGE);
    const { headers } = requestOf(fetch);
    expect(headers["x-license-key"]).toBe("k-123");
    expect(headers.Authorization).toBeUndefined();
  });

  it("sends a bearer token as Authorization", async () => {
    const { fetch, client } = clientWith(jsonResponse({}), { kind: "bearerToken", value: "tok" });
    await client.trends({ ...RANGE, interval: "day" });
    const { headers } = requestOf(fetch);
    expect(headers.Authorization).toBe("Bearer tok");
    expect(headers["x-license-key"]).toBeUndefined();
  });
});

describe("URLs", () => {
  it("resolves API paths against a base at the root", async () => {
    const { fetch, client } = clientWith(jsonResponse({}));
    await client.usageReport(RANGE);
    const url = new URL(requestOf(fetch).url);
    expect(url.pathname).toBe("/api/v1/reports/usage");
    expect(url.searchParams.get("format")).toBe("json");
    expect(url.searchParams.get("from")).toBe("2026-11-01T00:00:00Z");
    expect(url.searchParams.get("to")).toBe("2026-11-25T12:34:56Z");
    expect(url.searchParams.get("primaryKey")).toBe("machineId");
  });

  it("resolves API paths relative to a page served under a sub path", async () => {
    const base = "http://host/apis/analytics.mirrord.metalbear.co/v1alpha1/dashboard/";
    const { fetch, client } = clientWith(jsonResponse({}), undefined, base);
    await client.trends({ ...RANGE, interval: "week" });
    const url = new URL(requestOf(fetch).url);
    expect(url.pathname).toBe("/apis/analytics.mirrord.metalbear.co/v1alpha1/dashboard/api/v1/reports/usage/trends");
    expect(url.searchParams.get("interval")).toBe("week");
  });

  it("resolves against the document base by default", () => {
    const client = createApiClient({ credentials: { kind: "licenseKey", value: "k" } });
    expect(client.url("api/v1/reports/usage", {})).toBe(new URL("api/v1/reports/usage", document.baseURI).toString());
  });

  it("formats instants as RFC 3339 UTC", () => {
    expect(toRfc3339(new Date("2026-01-02T03:04:05.678Z"))).toBe("2026-01-02T03:04:05Z");
  });
});

describe("errors", () => {
  it.each([
    [401, "unauthorized"],
    [403, "forbidden"],
    [503, "unreachable"],
    [400, "failed"],
    [500, "failed"],
  ] as const)("maps HTTP %d to %s", async (status, kind) => {
    const { client } = clientWith(jsonResponse({ error: "code", message: "Something is wrong.", details: [] }, status));
    const error = await client.usageReport(RANGE).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).kind).toBe(kind);
    expect((error as ApiError).status).toBe(status);
  });

  it("keeps the server's message and code", async () => {
    const { client } = clientWith(jsonResponse({ error: "invalid_range", message: "from is after to.", details: ["from"] }, 400));
    const error = (await client.usageReport(RANGE).catch((e: unknown) => e)) as ApiError;
    expect(error.message).toBe("from is after to.");
    expect(error.code).toBe("invalid_range");
    expect(error.details).toEqual(["from"]);
  });

  it("copes with an error body that is not JSON", async () => {
    const { client } = clientWith(new Response("<html>bad gateway</html>", { status: 502 }));
    const error = (await client.usageReport(RANGE).catch((e: unknown) => e)) as ApiError;
    expect(error.kind).toBe("unreachable");
  });

  it("reports a network failure as unreachable", async () => {
    const { client } = clientWith(new TypeError("Failed to fetch"));
    const error = (await client.usageReport(RANGE).catch((e: unknown) => e)) as ApiError;
    expect(error.kind).toBe("unreachable");
  });

  it("passes an abort through untouched", async () => {
    const abort = new AbortController();
    abort.abort();
    const fetch = vi.fn<typeof globalThis.fetch>(async () => {
      throw new DOMException("aborted", "AbortError");
    });
    const client = createApiClient({ credentials: { kind: "licenseKey", value: "k" }, base: "http://host/", fetch });
    const error = await client.usageReport(RANGE, abort.signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DOMException);
  });
});

describe("downloads", () => {
  it("asks for the same range in the requested format and names the file", async () => {
    const { fetch, client } = clientWith(
      new Response("xlsx-bytes", { status: 200, headers: { "content-disposition": 'attachment; filename="report.xlsx"' } }),
    );
    const file = await client.downloadReport(RANGE, "xlsx");
    expect(new URL(requestOf(fetch).url).searchParams.get("format")).toBe("xlsx");
    expect(file.filename).toBe("report.xlsx");
    expect(await file.blob.text()).toBe("xlsx-bytes");
  });

  it("falls back to a name with the range", async () => {
    const { client } = clientWith(new Response("x", { status: 200 }));
    const file = await client.downloadReport(RANGE, "xlsx");
    expect(file.filename).toBe("mirrord-usage-2026-11-01-to-2026-11-25.xlsx");
  });
});

const PROXY = "http://127.0.0.1:8001";
const DASHBOARD = "/apis/analytics.mirrord.metalbear.co/v1alpha1/dashboard/";
const GROUP_VERSION = "/apis/analytics.mirrord.metalbear.co/v1alpha1/";

describe("mode detection", () => {
  it.each([
    "http://127.0.0.1:8080/",
    "http://127.0.0.1:8080/?range=7d&key=k",
    "https://usage.example.com/some/view",
    // The standalone server under a path of its own, and look-alikes of the aggregated path.
    "http://host/apis/analytics.mirrord.metalbear.co/v1alpha1/dashboards/",
    "http://host/apis/analytics.mirrord.metalbear.co/v1beta1/dashboard/",
    "http://host/dashboard/",
  ])("is standalone at %s", (page) => {
    expect(detectApiMode(page)).toEqual({ mode: STANDALONE_MODE, base: page });
  });

  it.each([
    [`${PROXY}${DASHBOARD}`, `${PROXY}${DASHBOARD}`],
    [`${PROXY}${DASHBOARD}?range=30d&primaryKey=clientHostname`, `${PROXY}${DASHBOARD}`],
    [`${PROXY}${DASHBOARD}index.html`, `${PROXY}${DASHBOARD}`],
    // Without the trailing slash (the server redirects to it, but the base must not depend on that).
    [`${PROXY}${DASHBOARD.slice(0, -1)}`, `${PROXY}${DASHBOARD}`],
    [`${PROXY}${DASHBOARD.slice(0, -1)}?range=7d`, `${PROXY}${DASHBOARD}`],
    // `kubectl proxy --api-prefix=/k8s/`.
    [`${PROXY}/k8s${DASHBOARD}`, `${PROXY}/k8s${DASHBOARD}`],
  ])("is aggregated at %s, based at the dashboard's directory", (page, base) => {
    expect(detectApiMode(page)).toEqual({ mode: AGGREGATED_MODE, base });
  });

  it("signs in only in standalone mode", () => {
    expect(STANDALONE_MODE.signIn).toBe(true);
    expect(AGGREGATED_MODE.signIn).toBe(false);
  });
});

describe("aggregated mode", () => {
  function aggregatedClient(response: Response, page = `${PROXY}${DASHBOARD}`, credentials: Credentials | null = null) {
    const fetch = vi.fn<typeof globalThis.fetch>(async () => response);
    return { fetch, client: createApiClient({ ...detectApiMode(page), credentials, fetch }) };
  }

  it("asks the all-time usage report for the range, relative to the page", async () => {
    const { fetch, client } = aggregatedClient(jsonResponse({ kind: "UsageReport" }));
    await client.usageReport(RANGE);
    const url = new URL(requestOf(fetch).url);
    expect(url.origin).toBe(PROXY);
    expect(url.pathname).toBe(`${GROUP_VERSION}usagereports/all-time`);
    expect(url.searchParams.get("from")).toBe("2026-11-01T00:00:00Z");
    expect(url.searchParams.get("to")).toBe("2026-11-25T12:34:56Z");
    expect(url.searchParams.get("primaryKey")).toBe("machineId");
  });

  it("asks the report's trends subresource", async () => {
    const { fetch, client } = aggregatedClient(jsonResponse({ interval: "week", buckets: [] }), `${PROXY}/k8s${DASHBOARD}?range=90d`);
    await client.trends({ ...RANGE, primaryKey: "clientHostname", interval: "week" });
    const url = new URL(requestOf(fetch).url);
    expect(url.pathname).toBe(`/k8s${GROUP_VERSION}usagereports/all-time/trends`);
    expect(url.searchParams.get("interval")).toBe("week");
    expect(url.searchParams.get("primaryKey")).toBe("clientHostname");
    expect(url.searchParams.get("from")).toBe("2026-11-01T00:00:00Z");
  });

  it.each(["csv", "xlsx"] as const)("downloads %s from the report itself", async (format) => {
    const { fetch, client } = aggregatedClient(
      new Response("bytes", { status: 200, headers: { "content-disposition": `attachment; filename="usage.${format}"` } }),
      `${PROXY}${DASHBOARD.slice(0, -1)}`,
    );
    const file = await client.downloadReport(RANGE, format);
    const url = new URL(requestOf(fetch).url);
    expect(url.pathname).toBe(`${GROUP_VERSION}usagereports/all-time`);
    expect(url.searchParams.get("format")).toBe(format);
    expect(url.searchParams.get("to")).toBe("2026-11-25T12:34:56Z");
    expect(file.filename).toBe(`usage.${format}`);
  });

  it("sends no credentials of its own, even when some are at hand", async () => {
    for (const credentials of [{ kind: "licenseKey", value: "k-123" }, { kind: "bearerToken", value: "tok" }] as const) {
      const { fetch, client } = aggregatedClient(jsonResponse({}), undefined, credentials);
      await client.usageReport(RANGE);
      const [, init] = fetch.mock.calls[0]!;
      const headers = init?.headers as Record<string, string>;
      expect(Object.keys(headers).map((name) => name.toLowerCase())).toEqual(["accept"]);
      // Cookies of the page's origin still go along, for proxies that authenticate with them.
      expect(init?.credentials).toBe("same-origin");
    }
  });

  it.each([
    [401, "Unauthorized", "unauthorized"],
    [403, "Forbidden", "forbidden"],
    [404, "NotFound", "failed"],
    [503, "ServiceUnavailable", "unreachable"],
  ] as const)("reads a Kubernetes Status %d (%s) as %s with its message", async (code, reason, kind) => {
    const message = `usagereports.analytics.mirrord.metalbear.co "all-time" says ${reason}`;
    const status = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
    const { client } = aggregatedClient(jsonResponse(status, code));
    const error = (await client.usageReport(RANGE).catch((e: unknown) => e)) as ApiError;
    expect(error).toBeInstanceOf(ApiError);
    expect(error.kind).toBe(kind);
    expect(error.status).toBe(code);
    expect(error.message).toBe(message);
    expect(error.code).toBe(reason);
    expect(error.fromKubernetes).toBe(true);
  });
});

describe("error bodies", () => {
  it("reads a Kubernetes Status with its causes", () => {
    expect(
      parseErrorBody({
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        message: "from must be before to",
        reason: "BadRequest",
        code: 400,
        details: { causes: [{ message: "from" }] },
      }),
    ).toEqual({ message: "from must be before to", code: "BadRequest", details: ["from"], fromKubernetes: true });
  });

  it("reads the standalone API's body", () => {
    expect(parseErrorBody({ error: "invalid_range", message: "from is after to.", details: ["from"] })).toEqual({
      message: "from is after to.",
      code: "invalid_range",
      details: ["from"],
      fromKubernetes: false,
    });
  });

  it.each([null, "text", [], {}, { kind: "Status", code: 500 }, { message: "" }])("has nothing to say for %j", (body) => {
    expect(parseErrorBody(body)).toBeNull();
  });

  it("keeps a standalone error as not from Kubernetes", async () => {
    const { client } = clientWith(jsonResponse({ error: "forbidden", message: "alice may not read usage reports", details: [] }, 403));
    const error = (await client.usageReport(RANGE).catch((e: unknown) => e)) as ApiError;
    expect(error.fromKubernetes).toBe(false);
    expect(error.code).toBe("forbidden");
  });
});
