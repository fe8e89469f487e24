import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "../App";
import { usageReport, usageTrends } from "../test/fixtures";

// jsdom has no canvas; the chart wrapper is replaced by a marker element.
vi.mock("../charts/Chart", () => ({
  ChartView: ({ testId, points }: { testId: string; points: number }) => <div data-testid={testId} data-points={points} />,
  readPalette: () => ({ series: ["#000"], text: "#000", grid: "#000", surface: "#fff" }),
  applyChartDefaults: () => undefined,
}));

type Handler = (url: URL) => Response | Promise<Response>;

function json(body: unknown, status = 200) {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function serve(handler: Handler) {
  const fetch = vi.fn(async (input: RequestInfo | URL) => handler(new URL(String(input))));
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

const isTrends = (url: URL) => url.pathname.endsWith("/trends");

beforeEach(() => {
  sessionStorage.clear();
  localStorage.clear();
  window.history.replaceState(null, "", "/?key=demo-key");
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("Dashboard", () => {
  it("renders every section and marks itself ready", async () => {
    const report = usageReport(3);
    const fetch = serve((url) => json(isTrends(url) ? usageTrends() : report));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("app").dataset.ready).toBe("true"));
    for (const section of ["section-usage-metrics", "section-timeframe", "section-usage-analytics", "section-user-activity", "section-targets"]) {
      expect(screen.getByTestId(section)).toBeTruthy();
    }
    expect(screen.getByTestId("metric-developer-time-saved-value").textContent).toBe("262 hours");
    expect(screen.getByTestId("metric-licenses-value").textContent).toBe("3 / 200");
    expect(screen.getByTestId("metric-licenses-value").dataset.used).toBe(String(report.generalMetrics.licensesUsed));
    expect(screen.getByTestId("metric-licenses").textContent).toContain("Machines with a user session in the selected range");
    // The range totals come from generalMetrics and agree with the per-user rows.
    const rows = report.userMetrics!;
    expect(report.generalMetrics.userSessions).toBe(rows.reduce((sum, row) => sum + row.sessionCount, 0));
    expect(report.generalMetrics.userSessionTimeSeconds).toBe(rows.reduce((sum, row) => sum + row.totalSessionTimeSeconds, 0));
    expect(screen.getByTestId("metric-range-user-sessions-value").dataset.value).toBe(String(report.generalMetrics.userSessions));
    expect(screen.getByTestId("metric-range-user-sessions-value").textContent).toBe("6");
    expect(screen.getByTestId("metric-range-session-time-value").dataset.value).toBe(String(report.generalMetrics.userSessionTimeSeconds));
    expect(screen.getByTestId("metric-range-session-time-value").textContent).toBe("1 hour");
    // 400 days of user sessions and one hour of CI.
    expect(screen.getByTestId("metric-total-session-time-value").textContent).toBe("1 year, 1 month");
    expect(screen.getByTestId("metric-total-session-time-value").dataset.value).toBe(String(400 * 86400 + 3600));
    expect(screen.getByTestId("cluster-name").textContent).toBe("prod-eu");
    expect(screen.getByTestId("learn-more-ci")).toBeTruthy();
    expect(screen.getAllByTestId("user-row")).toHaveLength(3);
    expect(window.location.search).not.toContain("key");
    const [, init] = fetch.mock.calls[0]! as unknown as [string, RequestInit];
    expect((init.headers as Record<string, string>)["x-license-key"]).toBe("demo-key");
  });

  it("hides the CI link on the Teams tier and shows a dash for an unknown cluster", async () => {
    const report = usageReport(1);
    report.generalMetrics.tier = "Teams";
    report.generalMetrics.clusterName = null;
    report.generalMetrics.totalLicenses = null;
    serve((url) => json(isTrends(url) ? usageTrends() : report));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("app").dataset.ready).toBe("true"));
    expect(screen.queryByTestId("learn-more-ci")).toBeNull();
    expect(screen.getByTestId("cluster-name").textContent).toBe("—");
    expect(screen.getByTestId("metric-licenses-value").textContent).toBe("1 / —");
  });

  it("counts licenses by machine whatever the primary key groups users by", async () => {
    window.history.replaceState(null, "", "/?key=demo-key&primaryKey=clientHostname");
    const report = usageReport(2);
    report.generalMetrics.licensesUsed = 5;
    serve((url) => json(isTrends(url) ? usageTrends() : report));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("app").dataset.ready).toBe("true"));
    expect(screen.getByTestId("metric-licenses-value").textContent).toBe("5 / 200");
    expect(screen.getByTestId("metric-licenses-value").dataset.used).toBe("5");
    expect(screen.getByTestId("metric-range-active-users-value").dataset.value).toBe("2");
  });

  it("shows the sign-in form with a message on 401", async () => {
    serve(() => json({ error: "unauthorized", message: "Unknown license key.", details: [] }, 401));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("sign-in")).toBeTruthy());
    expect(screen.getByTestId("sign-in-message").textContent).toContain("Unknown license key.");
    expect(sessionStorage.getItem("mirrord-usage.credentials")).toBeNull();
  });

  it("signs in with a bearer token", async () => {
    window.history.replaceState(null, "", "/");
    const fetch = serve((url) => json(isTrends(url) ? usageTrends() : usageReport(1)));
    render(<App />);
    fireEvent.click(screen.getByTestId("sign-in-kind-token"));
    fireEvent.change(screen.getByTestId("sign-in-secret"), { target: { value: "my-token" } });
    fireEvent.click(screen.getByTestId("sign-in-submit"));
    await waitFor(() => expect(screen.getByTestId("app").dataset.ready).toBe("true"));
    const [, init] = fetch.mock.calls[0]! as unknown as [string, RequestInit];
    expect((init.headers as Record<string, string>).Authorization).toBe("Bearer my-token");
  });

  it("shows 403 only in the section it affects", async () => {
    serve((url) => (isTrends(url) ? json({ error: "forbidden", message: "no", details: [] }, 403) : json(usageReport(2))));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("error-forbidden")).toBeTruthy());
    const trend = screen.getByTestId("trend");
    expect(within(trend).getByTestId("error-forbidden").textContent).toBe(
      "You are not allowed to see this (ask your cluster admin for the mirrord-usage-viewer role)",
    );
    expect(screen.getAllByTestId("error-forbidden")).toHaveLength(1);
    expect(screen.getAllByTestId("user-row")).toHaveLength(2);
  });

  it("says the server is unreachable and retries", async () => {
    let up = false;
    serve((url) => {
      if (!up) throw new TypeError("Failed to fetch");
      return json(isTrends(url) ? usageTrends() : usageReport(2));
    });
    render(<App />);
    await waitFor(() => expect(screen.getAllByTestId("error-unreachable").length).toBeGreaterThan(0));
    up = true;
    fireEvent.click(screen.getAllByTestId("retry")[0]!);
    await waitFor(() => expect(screen.queryAllByTestId("user-row")).toHaveLength(2));
  });

  it("shows why per-user data is omitted instead of the table", async () => {
    const report = usageReport(4);
    delete report.userMetrics;
    report.userMetricsOmitted = "your role may only see totals.";
    serve((url) => json(isTrends(url) ? usageTrends() : report));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("app").dataset.ready).toBe("true"));
    const notices = screen.getAllByTestId("user-metrics-omitted");
    expect(notices.length).toBe(3);
    expect(notices[0]!.textContent).toContain("your role may only see totals.");
    // The range totals do not need the per-user rows.
    expect(screen.getByTestId("metric-range-user-sessions-value").textContent).toBe("10");
    expect(screen.getByTestId("metric-range-user-sessions-value").dataset.value).toBe(String(report.generalMetrics.userSessions));
    expect(screen.getByTestId("metric-range-session-time-value").textContent).toBe("1 hour, 40 minutes");
    expect(screen.getByTestId("metric-range-session-time-value").dataset.value).toBe(String(report.generalMetrics.userSessionTimeSeconds));
    expect(screen.getByTestId("metric-licenses-value").textContent).toBe("4 / 200");
  });

  it("explains how data arrives when there are no sessions yet", async () => {
    const report = usageReport(0);
    report.allTimeMetrics = { ...report.allTimeMetrics, totalSessionCount: 0, totalCiSessionCount: 0, firstSessionAt: null };
    serve((url) => json(isTrends(url) ? { interval: "day", buckets: [] } : report));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("empty-state")).toBeTruthy());
    expect(screen.getByTestId("empty-state").textContent).toContain("operator reports each session");
  });

  it("puts the range and primary key in the URL and re-queries", async () => {
    const fetch = serve((url) => json(isTrends(url) ? usageTrends() : usageReport(2)));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("app").dataset.ready).toBe("true"));
    fireEvent.click(screen.getByTestId("preset-7d"));
    await waitFor(() => expect(window.location.search).toBe("?range=7d"));
    fireEvent.change(screen.getByTestId("primary-key"), { target: { value: "clientHostname" } });
    await waitFor(() => expect(window.location.search).toBe("?range=7d&primaryKey=clientHostname"));
    await waitFor(() => {
      const last = new URL(String(fetch.mock.calls.at(-1)![0]));
      expect(last.searchParams.get("primaryKey")).toBe("clientHostname");
    });
  });
});

describe("Dashboard behind kube-apiserver", () => {
  const DASHBOARD = "/apis/analytics.mirrord.metalbear.co/v1alpha1/dashboard/";
  const status = (code: number, reason: string, message: string) =>
    json({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code }, code);

  beforeEach(() => {
    window.history.replaceState(null, "", `${DASHBOARD}?range=7d`);
    // Left over from a standalone session on the same origin: never sent through the proxy.
    sessionStorage.setItem("mirrord-usage.credentials", JSON.stringify({ kind: "licenseKey", value: "stale" }));
  });

  it("loads without signing in, from the usage report resource, with no credentials of its own", async () => {
    const fetch = serve((url) => json(isTrends(url) ? usageTrends() : { kind: "UsageReport", apiVersion: "analytics.mirrord.metalbear.co/v1alpha1", metadata: { name: "all-time" }, ...usageReport(3) }));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("app").dataset.ready).toBe("true"));
    expect(screen.queryByTestId("sign-in")).toBeNull();
    expect(screen.queryByTestId("sign-out")).toBeNull();
    expect(screen.getAllByTestId("user-row")).toHaveLength(3);
    const paths = fetch.mock.calls.map(([input]) => new URL(String(input)).pathname);
    expect(new Set(paths)).toEqual(
      new Set(["", "/trends", "/summary"].map((sub) => `/apis/analytics.mirrord.metalbear.co/v1alpha1/usagereports/all-time${sub}`)),
    );
    for (const [, init] of fetch.mock.calls as unknown as Array<[string, RequestInit]>) {
      const headers = init.headers as Record<string, string>;
      expect(headers["x-license-key"]).toBeUndefined();
      expect(headers.Authorization).toBeUndefined();
    }
  });

  it("says which role to ask for, with Kubernetes' own message, when reports are forbidden", async () => {
    const message =
      'usagereports.analytics.mirrord.metalbear.co "all-time" is forbidden: User "bob" cannot get resource "usagereports" in API group "analytics.mirrord.metalbear.co" at the cluster scope';
    serve(() => status(403, "Forbidden", message));
    render(<App />);
    await waitFor(() => expect(screen.getAllByTestId("error-forbidden").length).toBeGreaterThan(0));
    const notice = screen.getAllByTestId("error-forbidden")[0]!;
    expect(notice.textContent).toContain("mirrord-usage-viewer role");
    expect(within(notice).getByTestId("error-forbidden-detail").textContent).toBe(message);
    expect(screen.queryByTestId("sign-in")).toBeNull();
  });

  it("explains a 401 from Kubernetes instead of asking for a license key", async () => {
    serve(() => status(401, "Unauthorized", "Unauthorized"));
    render(<App />);
    await waitFor(() => expect(screen.getAllByTestId("error-unauthorized").length).toBeGreaterThan(0));
    expect(screen.getAllByTestId("error-unauthorized")[0]!.textContent).toContain("kubectl proxy");
    expect(screen.queryByTestId("sign-in")).toBeNull();
  });

  it("shows a Status message of any other failure", async () => {
    serve((url) => (isTrends(url) ? json(usageTrends()) : status(404, "NotFound", 'mirrordusagereports "all-time" not found')));
    render(<App />);
    await waitFor(() => expect(screen.getAllByTestId("error-failed").length).toBeGreaterThan(0));
    expect(screen.getAllByTestId("error-failed")[0]!.textContent).toContain('mirrordusagereports "all-time" not found (NotFound)');
  });

  it("names the analyst role where per-user rows are left out", async () => {
    const report = usageReport(4);
    delete report.userMetrics;
    report.userMetricsOmitted =
      'User "bob" cannot list resource "mirrordusers" in API group "analytics.mirrord.metalbear.co" at the cluster scope: per-user rows are left out';
    serve((url) => json(isTrends(url) ? usageTrends() : report));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("app").dataset.ready).toBe("true"));
    const notices = screen.getAllByTestId("user-metrics-omitted");
    expect(notices).toHaveLength(3);
    for (const notice of notices) {
      expect(notice.textContent).toContain("per-user rows are left out. Ask your cluster admin for the mirrord-usage-analyst role");
    }
    expect(screen.getByTestId("metric-range-user-sessions-value").textContent).toBe("10");
  });

  it("downloads the CSV the server writes for the range and primary key, with the viewer's key", async () => {
    const served = "clientHostname,kubernetesUsername\r\nhost-1,alice\r\n";
    const fetch = serve((url) => {
      if (url.searchParams.get("format") === "csv") {
        return new Response(served, { headers: { "content-type": "text/csv", "content-disposition": 'attachment; filename="mirrord-usage-x.csv"' } });
      }
      return json(isTrends(url) ? usageTrends() : usageReport(3));
    });
    const saved: Blob[] = [];
    // jsdom has no object URLs; each test file has its own globals.
    URL.createObjectURL = (blob: Blob) => (saved.push(blob), "blob:csv");
    URL.revokeObjectURL = () => undefined;
    const clicked = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(() => undefined);
    window.history.replaceState(null, "", "/?key=demo-key&primaryKey=clientHostname");
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("app").dataset.ready).toBe("true"));
    fireEvent.click(screen.getByTestId("download-csv"));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(await saved[0]!.text()).toBe(served);
    const [asked, init] = fetch.mock.calls.find(([input]) => String(input).includes("format=csv"))! as unknown as [string, RequestInit];
    const [report] = fetch.mock.calls.find(([input]) => String(input).includes("format=json"))! as unknown as [string];
    for (const param of ["from", "to", "primaryKey"]) {
      expect(new URL(asked).searchParams.get(param)).toBe(new URL(report).searchParams.get(param));
    }
    expect(new URL(asked).searchParams.get("primaryKey")).toBe("clientHostname");
    expect((init.headers as Record<string, string>)["x-license-key"]).toBe("demo-key");
    expect(clicked).toHaveBeenCalledTimes(1);
    clicked.mockRestore();
  });
});
