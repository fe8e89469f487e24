// Browser tests of the built dashboard against the real `mirrord-usage serve`, fed a known
// data set. Run with `npm run e2e` (builds first). The server binary comes from
// MIRRORD_USAGE_BIN, by default ../target/release/mirrord-usage.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { buildEvents, chunks, HOSTNAME_COUNT, machineId, ranges, SMALL_USER_COUNT, USER_COUNT } from "./dataset.mjs";
import {
  AGGREGATED_DASHBOARD,
  DIST_DIR,
  kubernetesStatus,
  serverServesDashboard,
  startKubectlProxy,
  startServer,
  startStaticProxy,
  UI_DIR,
} from "./server.mjs";
import {
  assertClose,
  assertRangeTotals,
  assertShowsReport,
  dataValue,
  DESKTOP,
  isTrends,
  isUsageJson,
  lastRequest,
  launchChromium,
  testId,
  text,
  waitReady,
} from "./page.mjs";

const KEY = "e2e-license-key-0123456789";
const ARTIFACTS = join(UI_DIR, "e2e", "artifacts");
const NARROW = { width: 390, height: 844 };
const SUB_PATH = "/mirrord-usage/";
const PERF_BUDGET_MS = 1500;

const NOW = new Date();
const RANGES = ranges(NOW);

let server;
let proxies = [];
let appUrl;
let browser;
/** Every request any page made, with the origin it was allowed to go to. */
const allRequests = [];
/** Logs of pages that must not print console errors (pages that provoke errors are left out). */
const cleanLogs = [];

// ---- test utilities ----------------------------------------------------------------------------

/** The ROI calculator's display rule: up to tens until 100, hundreds above, then K/M. */
function roundedSessions(n) {
  if (n <= 0) return "0 sessions";
  const whole = Math.ceil(n);
  const rounded = whole <= 100 ? Math.ceil(whole / 10) * 10 : Math.ceil(whole / 100) * 100;
  let text;
  if (rounded < 1000) text = String(rounded);
  else if (rounded < 1_000_000) text = `${Math.ceil(rounded / 100 - 1e-9) / 10}K`;
  else text = `${Math.ceil(rounded / 100_000 - 1e-9) / 10}M`;
  return `${text} ${rounded === 1 ? "session" : "sessions"}`;
}

async function api(url) {
  const response = await fetch(url, { headers: { "x-license-key": KEY } });
  assert.equal(response.status, 200, `GET ${url} answered ${response.status}: ${await response.clone().text()}`);
  return response.json();
}

/** The bytes the server answers `url` with, as the dashboard's downloads fetch them. */
async function apiFile(url) {
  const response = await fetch(url, { headers: { "x-license-key": KEY } });
  assert.equal(response.status, 200, `GET ${url} answered ${response.status}: ${await response.clone().text()}`);
  return Buffer.from(await response.arrayBuffer());
}

/** Clicks a download button; the saved file and the last request for that format. */
async function download(page, log, button, format) {
  const [file] = await Promise.all([page.waitForEvent("download"), page.click(testId(button))]);
  const bytes = readFileSync(await file.path());
  const url = lastRequest(log, (u) => new URL(u).searchParams.get("format") === format);
  return { bytes, url: new URL(url), filename: file.suggestedFilename() };
}

async function openDashboard(query = "", { viewport = DESKTOP, colorScheme = "light", base = appUrl, key = KEY, clean = true, init } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, acceptDownloads: true, reducedMotion: "reduce" });
  const page = await context.newPage();
  const log = { name: query || "(default)", requests: [], consoleErrors: [] };
  const origin = new URL(base).origin;
  page.on("request", (request) => {
    log.requests.push(request.url());
    allRequests.push({ url: request.url(), origin });
  });
  page.on("console", (message) => {
    if (message.type() === "error") log.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => log.consoleErrors.push(`uncaught: ${error.message}`));
  if (clean) cleanLogs.push(log);
  if (init) await init(page);
  const params = new URLSearchParams(query);
  if (key !== null) params.set("key", key);
  await page.goto(`${base}?${params}`);
  return { context, page, log };
}

/** Runs `action` and waits until the dashboard has loaded a report whose URL passes `predicate`. */
async function reload(page, action, predicate = () => true) {
  const response = page.waitForResponse((r) => isUsageJson(r.url()) && predicate(new URL(r.url())), { timeout: 30_000 });
  await action();
  await response;
  await waitReady(page);
}

/** Checks that what the page shows equals what the API answers for the page's own request. */
async function assertMatchesApi(page, log, roi = { user: 15, ci: 15 }) {
  const report = await api(lastRequest(log, isUsageJson));
  const trends = await api(lastRequest(log, isTrends));
  await assertShowsReport(page, report, trends, roi);
  return { report, trends };
}

// ---- tests -----------------------------------------------------------------------------------

describe("dashboard against mirrord-usage serve", { concurrency: false }, () => {
  before(async () => {
    assert.ok(existsSync(join(DIST_DIR, "index.html")), "ui/dist is missing: run `npm run build` (npm run e2e does)");
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer({ licenseKey: KEY, licenses: 200, tier: "Enterprise" });

    const events = buildEvents(NOW);
    const started = performance.now();
    for (const batch of chunks(events, 5000)) {
      const response = await fetch(`${server.url}/api/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-license-key": KEY },
        body: JSON.stringify({ events: batch }),
      });
      assert.ok(response.ok, `ingest answered ${response.status}: ${await response.text()}`);
    }
    console.log(`# ingested ${events.length} events in ${Math.round(performance.now() - started)} ms`);

    const served = process.env.E2E_UI === "proxy" ? "skipped" : await serverServesDashboard(server.url);
    if (served === "current") {
      appUrl = `${server.url}/`;
      console.log(`# dashboard served by mirrord-usage at ${appUrl}`);
    } else {
      const proxy = await startStaticProxy(server.url, "/");
      proxies.push(proxy);
      appUrl = proxy.url;
      const why = {
        skipped: "E2E_UI=proxy",
        stale: "the binary embeds an older build; rebuild it to embed this one",
        absent: "the binary has no dashboard embedded",
      }[served];
      console.log(`# dashboard served from ui/dist at ${appUrl} (${why}), API forwarded to ${server.url}`);
    }
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    for (const proxy of proxies) await proxy.stop();
    await server?.stop();
  });

  test("the key leaves the URL and every section shows the API's numbers for the default range", async () => {
    const { page, log, context } = await openDashboard();
    await waitReady(page);
    assert.equal(new URL(page.url()).searchParams.get("key"), null, "key removed from the address bar");
    for (const section of ["section-usage-metrics", "section-timeframe", "section-usage-analytics", "section-user-activity", "section-targets", "cluster-info"]) {
      assert.ok(await page.isVisible(testId(section)), `${section} visible`);
    }
    for (const chart of ["top-users-chart", "activity-pie", "trend-chart", "namespace-chart"]) {
      assert.ok(await page.isVisible(testId(chart)), `${chart} visible`);
    }
    assert.ok(await page.isVisible(testId("learn-more-ci")), "CI link shown on Enterprise");
    assert.equal(await page.getAttribute(testId("check-updates"), "target"), "_blank");
    const usage = new URL(lastRequest(log, isUsageJson));
    assert.equal(usage.searchParams.get("from"), `${NOW.toISOString().slice(0, 7)}-01T00:00:00Z`, "default range starts this month");
    assert.equal(usage.searchParams.get("primaryKey"), "machineId");
    const sent = await page.evaluate(() => performance.getEntriesByType("resource").map((e) => e.name));
    assert.ok(sent.every((url) => !url.includes("key=")), "the key is never sent in a URL");
    const { report } = await assertMatchesApi(page, log);
    assert.equal(report.generalMetrics.totalLicenses, 200);
    assert.equal(report.generalMetrics.tier, "Enterprise");
    await context.close();
  });

  test("a shared range in the URL shows that range, and changing the range changes the numbers", async () => {
    const { big, small } = RANGES;
    const { page, log, context } = await openDashboard(`from=${big.fromDay}&to=${big.toDay}`);
    await waitReady(page);
    assert.equal(await page.inputValue(testId("range-from")), big.fromDay);
    assert.equal(await page.inputValue(testId("range-to")), big.toDay);
    const first = await assertMatchesApi(page, log);
    assert.equal(first.report.userMetrics.length, USER_COUNT, "every machine has sessions in the big range");
    assert.equal(await dataValue(page, "metric-range-active-users-value"), first.report.generalMetrics.activeUsers);

    await reload(page, () => page.fill(testId("range-from"), small.fromDay), (u) => u.searchParams.get("from") === `${small.fromDay}T00:00:00Z`);
    await reload(page, () => page.fill(testId("range-to"), small.toDay), (u) => u.searchParams.get("to") === `${nextDay(small.toDay)}T00:00:00Z`);
    await page.waitForFunction(
      ([from, to]) => location.search.includes(`from=${from}`) && location.search.includes(`to=${to}`),
      [small.fromDay, small.toDay],
    );
    await waitReady(page);
    const second = await assertMatchesApi(page, log);
    assert.equal(second.report.userMetrics.length, SMALL_USER_COUNT);
    assert.notEqual(second.report.generalMetrics.activeUsers, first.report.generalMetrics.activeUsers);
    assert.equal(await dataValue(page, "metric-range-active-users-value"), second.report.generalMetrics.activeUsers);

    await reload(page, () => page.click(testId("preset-all")), (u) => u.searchParams.get("from") === "1970-01-01T00:00:00Z");
    assert.match(page.url(), /range=all/);
    await assertMatchesApi(page, log);

    await reload(page, () => page.click(testId("preset-7d")), (u) => Date.now() - Date.parse(u.searchParams.get("from")) < 8 * 86400_000);
    assert.equal(await page.getAttribute(testId("preset-7d"), "aria-pressed"), "true");
    await assertMatchesApi(page, log);

    const updatedAt = () => page.getAttribute(testId("last-updated"), "data-updated-at");
    const before = await updatedAt();
    await reload(page, () => page.click(testId("refresh")));
    assert.ok((await updatedAt()) > before, "refresh updates the time of the last update");
    assert.match(await text(page, "last-updated"), /^Updated \d{2}:\d{2}:\d{2} UTC$/);
    await context.close();
  });

  test("the user table shows 20 rows a page and pages through every user", async () => {
    const { big, small } = RANGES;
    const { page, log, context } = await openDashboard(`from=${small.fromDay}&to=${small.toDay}`);
    await waitReady(page);
    const smallReport = await api(lastRequest(log, isUsageJson));
    const seenSmall = await collectAllPages(page);
    assert.deepEqual([...seenSmall].sort(), smallReport.userMetrics.map((u) => u.id).sort());

    await reload(page, async () => {
      await page.fill(testId("range-from"), big.fromDay);
    }, (u) => u.searchParams.get("from") === `${big.fromDay}T00:00:00Z`);
    await reload(page, () => page.fill(testId("range-to"), big.toDay), (u) => u.searchParams.get("to") === `${nextDay(big.toDay)}T00:00:00Z`);
    const bigReport = await api(lastRequest(log, isUsageJson));
    assert.equal(bigReport.userMetrics.length, USER_COUNT);
    assert.equal(await page.getAttribute(testId("pagination"), "data-pages"), String(USER_COUNT / 20));
    const seenBig = await collectAllPages(page);
    assert.equal(seenBig.size, USER_COUNT);
    assert.deepEqual([...seenBig].sort(), bigReport.userMetrics.map((u) => u.id).sort());

    // Search narrows the rows, and sorting by a column reorders them.
    await page.fill(testId("user-search"), machineId(1234));
    assert.deepEqual(await page.$$eval(testId("user-row"), (els) => els.map((el) => el.getAttribute("data-id"))), [machineId(1234)]);
    await page.fill(testId("user-search"), "");
    await page.click(testId("sort-id"));
    assert.equal(await page.getAttribute(`${testId("user-row")}:first-child`, "data-id"), machineId(0));
    await page.click(testId("sort-id"));
    assert.equal(await page.getAttribute(`${testId("user-row")}:first-child`, "data-id"), machineId(USER_COUNT - 1));
    const columns = ["activeSince", "lastSession", "totalSessionTimeSeconds", "sessionCount", "avgSessionDurationSeconds"];
    for (const [index, column] of columns.entries()) {
      await page.click(testId(`sort-${column}`));
      assert.equal(await page.getAttribute(`th:has(${testId(`sort-${column}`)})`, "aria-sort"), "descending");
      const values = await page.$$eval(
        `${testId("user-row")} td:nth-of-type(${index + 1})`,
        (cells) => cells.map((cell) => cell.getAttribute("data-value")),
      );
      const numbers = values.map((value) => (/^\d{4}-/.test(value) ? Date.parse(value) : Number(value)));
      assert.equal(numbers.length, 20);
      for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i - 1] >= numbers[i], `${column} sorted largest first`);
    }
    await context.close();
  });

  test("switching the primary key re-queries and regroups the table", async () => {
    const { big } = RANGES;
    const { page, log, context } = await openDashboard(`from=${big.fromDay}&to=${big.toDay}`);
    await waitReady(page);
    await reload(page, () => page.selectOption(testId("primary-key"), "clientHostname"), (u) => u.searchParams.get("primaryKey") === "clientHostname");
    assert.match(page.url(), /primaryKey=clientHostname/);
    const report = await api(lastRequest(log, isUsageJson));
    assert.equal(report.userMetrics.length, HOSTNAME_COUNT, "machines share hostnames in the data set");
    assert.equal(report.generalMetrics.activeUsers, HOSTNAME_COUNT);
    assert.equal(report.generalMetrics.licensesUsed, USER_COUNT, "licenses count machines, not hostnames");
    assert.equal(Number(await page.getAttribute(testId("metric-licenses-value"), "data-used")), USER_COUNT);
    assert.equal(await page.getAttribute(testId("pagination"), "data-total"), String(HOSTNAME_COUNT));
    const header = await page.textContent(`${testId("user-table")} thead th:first-child`);
    assert.match(header, /Hostname/);
    await assertMatchesApi(page, log);
    await context.close();
  });

  test("CSV and XLSX are the server's export for the range and primary key shown", async () => {
    const { small } = RANGES;
    const { page, log, context } = await openDashboard(`from=${small.fromDay}&to=${small.toDay}&primaryKey=clientHostname`);
    await waitReady(page);
    await page.fill(testId("user-search"), "machine-000");

    const csv = await download(page, log, "download-csv", "csv");
    assert.equal(csv.url.searchParams.get("from"), `${small.fromDay}T00:00:00Z`);
    assert.equal(csv.url.searchParams.get("primaryKey"), "clientHostname");
    assert.ok(csv.bytes.length > 0);
    assert.deepEqual(csv.bytes, await apiFile(csv.url), "the file is the server's export, byte for byte");
    const lines = csv.bytes.toString("utf8").trim().split(/\r?\n/);
    assert.match(lines[0], /^clientHostname,/, "the server names the first column after the primary key");
    const reportUrl = new URL(lastRequest(log, isUsageJson));
    for (const param of ["from", "to", "primaryKey"]) {
      assert.equal(csv.url.searchParams.get(param), reportUrl.searchParams.get(param), `the table's ${param}`);
    }
    const report = await api(reportUrl);
    assert.equal(lines.length - 1, report.userMetrics.length, "every user of the range, whatever the search");

    const xlsx = await download(page, log, "download-xlsx", "xlsx");
    assert.equal(xlsx.bytes.subarray(0, 2).toString("latin1"), "PK", "an xlsx file is a zip archive");
    assert.equal(xlsx.url.searchParams.get("from"), `${small.fromDay}T00:00:00Z`);
    assert.equal(xlsx.url.searchParams.get("primaryKey"), "clientHostname");
    await context.close();
  });

  test("the ROI modal rounds counts, previews, refuses bad input, traps focus and persists", async () => {
    const { page, log, context } = await openDashboard();
    await waitReady(page);
    const report = await api(lastRequest(log, isUsageJson));
    const users = report.allTimeMetrics.totalSessionCount;
    const ci = report.allTimeMetrics.totalCiSessionCount;

    await page.click(testId("adjust-calculation"));
    await page.waitForSelector(testId("roi-modal"));
    assert.equal(await text(page, "roi-user-sessions"), roundedSessions(users));
    assert.equal(await text(page, "roi-ci-sessions"), roundedSessions(ci));
    assertClose(await dataValue(page, "roi-preview-total"), ((users + ci) * 15) / 60, "default preview", 0.01);

    await page.fill(testId("roi-user-minutes"), "30");
    assertClose(await dataValue(page, "roi-preview-total"), (users * 30 + ci * 15) / 60, "preview after change", 0.01);

    await page.fill(testId("roi-user-minutes"), "-5");
    assert.ok(await page.isVisible(testId("roi-user-minutes-error")));
    assert.ok(await page.isDisabled(testId("roi-save")));
    await page.fill(testId("roi-user-minutes"), "abc");
    assert.ok(await page.isVisible(testId("roi-user-minutes-error")));
    assert.ok(await page.isDisabled(testId("roi-save")));

    for (let i = 0; i < 8; i++) {
      await page.keyboard.press(i % 3 === 2 ? "Shift+Tab" : "Tab");
      assert.ok(await page.evaluate(() => !!document.activeElement?.closest('[role="dialog"]')), "focus stays in the dialog");
    }
    await page.keyboard.press("Escape");
    assert.equal(await page.$(testId("roi-modal")), null, "Escape closes the dialog");
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "adjust-calculation", "focus returns");

    await page.click(testId("adjust-calculation"));
    await page.fill(testId("roi-user-minutes"), "20");
    await page.fill(testId("roi-ci-minutes"), "10");
    await page.click(testId("roi-save"));
    assert.equal(await page.$(testId("roi-modal")), null);
    assertClose(await dataValue(page, "metric-developer-time-saved-value"), (users * 20) / 60, "developer time saved", 0.01);
    assertClose(await dataValue(page, "metric-ci-time-saved-value"), (ci * 10) / 60, "CI time saved", 0.01);

    await page.reload();
    await waitReady(page);
    await assertMatchesApi(page, log, { user: 20, ci: 10 });
    await context.close();
  });

  test("dark mode follows the system, toggles and is remembered", async () => {
    const { page, context } = await openDashboard("", { colorScheme: "dark" });
    await waitReady(page);
    const theme = () => page.evaluate(() => document.documentElement.dataset.theme);
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.equal(await theme(), "dark");
    const dark = await background();
    await page.click(testId("theme-toggle"));
    assert.equal(await theme(), "light");
    assert.notEqual(await background(), dark);
    await page.reload();
    await waitReady(page);
    assert.equal(await theme(), "light", "the choice outlives a reload");
    await page.click(testId("theme-toggle"));
    assert.equal(await theme(), "dark");
    await context.close();
  });

  test("inputs have labels, buttons have names, and keyboard focus is visible", async () => {
    const { page, context } = await openDashboard();
    await waitReady(page);
    const unlabeled = await page.$$eval("input, select", (els) =>
      els.filter((el) => el.labels.length === 0 && !el.getAttribute("aria-label") && !el.closest("label")).map((el) => el.outerHTML),
    );
    assert.deepEqual(unlabeled, []);
    const unnamed = await page.$$eval("button, a", (els) => els.filter((el) => !(el.textContent?.trim() || el.getAttribute("aria-label"))).map((el) => el.outerHTML));
    assert.deepEqual(unnamed, []);
    await page.keyboard.press("Tab");
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(outline, "none", "the focused element has a visible outline");
    await context.close();
  });

  test("a wrong key shows the sign-in form with a message, and signing in works", async () => {
    const { page, context } = await openDashboard("", { key: "not-the-key", clean: false });
    await page.waitForSelector(testId("sign-in-message"));
    assert.match(await text(page, "sign-in-message"), /401/);
    await page.fill(testId("sign-in-secret"), KEY);
    await page.click(testId("sign-in-submit"));
    await waitReady(page);
    await context.close();
  });

  test("403, an unreachable server and omitted per-user data show in the affected sections", async () => {
    const forbidden = await openDashboard("", {
      clean: false,
      init: (page) =>
        page.route(
          (url) => isTrends(url.toString()),
          (route) => route.fulfill({ status: 403, contentType: "application/json", body: JSON.stringify({ error: "forbidden", message: "denied", details: [] }) }),
        ),
    });
    await forbidden.page.waitForSelector(`${testId("trend")} ${testId("error-forbidden")}`);
    assert.match(await forbidden.page.textContent(testId("error-forbidden")), /mirrord-usage-viewer role/);
    assert.equal((await forbidden.page.$$(testId("error-forbidden"))).length, 1, "only the trend section");
    assert.ok(await forbidden.page.isVisible(testId("metric-developer-time-saved-value")));
    await forbidden.context.close();

    const unreachable = await openDashboard("", {
      clean: false,
      init: (page) => page.route((url) => isUsageJson(url.toString()), (route) => route.abort("connectionrefused")),
    });
    await unreachable.page.waitForSelector(testId("error-unreachable"));
    assert.match(await unreachable.page.textContent(testId("error-unreachable")), /Server unreachable/);
    await unreachable.page.unrouteAll();
    await unreachable.page.click(`${testId("retry")} >> nth=0`);
    await waitReady(unreachable.page);
    await unreachable.context.close();

    let omittedReport;
    const omitted = await openDashboard("", {
      clean: false,
      init: (page) =>
        page.route(
          (url) => isUsageJson(url.toString()),
          async (route) => {
            const response = await route.fetch();
            const json = await response.json();
            omittedReport = structuredClone(json);
            delete json.userMetrics;
            json.userMetricsOmitted = "your role may only see totals.";
            await route.fulfill({ response, json });
          },
        ),
    });
    await waitReady(omitted.page);
    const notices = await omitted.page.$$eval(testId("user-metrics-omitted"), (els) => els.map((el) => el.textContent));
    assert.equal(notices.length, 3);
    assert.ok(notices.every((notice) => notice.includes("your role may only see totals.")));
    // The range totals and the seats do not need the per-user rows.
    await assertRangeTotals(omitted.page, omittedReport);
    assert.equal(Number(await omitted.page.getAttribute(testId("metric-licenses-value"), "data-used")), omittedReport.generalMetrics.licensesUsed);
    assert.deepEqual(omitted.log.consoleErrors, []);
    await omitted.context.close();
  });

  test("the same build works under a sub path with relative URLs", async () => {
    const proxy = await startStaticProxy(server.url, SUB_PATH);
    proxies.push(proxy);
    const { page, log, context } = await openDashboard("", { base: proxy.url });
    await waitReady(page);
    for (const url of log.requests) assert.ok(new URL(url).pathname.startsWith(SUB_PATH), `${url} stays under ${SUB_PATH}`);
    await context.close();
  });

  test("through kubectl proxy: no sign-in, no credentials sent, every file one segment below dashboard/", async () => {
    const proxy = await startKubectlProxy(server.url, KEY);
    proxies.push(proxy);
    const { big } = RANGES;
    const sentCredentials = [];
    const { page, log, context } = await openDashboard(`from=${big.fromDay}&to=${big.toDay}`, {
      base: proxy.url,
      key: null,
      init: (p) =>
        p.on("request", (request) => {
          const headers = request.headers();
          if (headers["x-license-key"] || headers.authorization) sentCredentials.push(request.url());
        }),
    });
    await waitReady(page);
    assert.equal(await page.$(testId("sign-in")), null, "no sign-in form");
    assert.equal(await page.$(testId("sign-out")), null, "nothing to sign out of");
    const { report } = await assertMatchesApi(page, log);
    assert.equal(report.kind, "UsageReport");
    assert.equal(report.userMetrics.length, USER_COUNT);
    const origin = new URL(proxy.url).origin;
    for (const url of log.requests) {
      const { pathname } = new URL(url);
      if (pathname.startsWith(AGGREGATED_DASHBOARD)) {
        assert.ok(!pathname.slice(AGGREGATED_DASHBOARD.length).includes("/"), `${url} is more than one segment below dashboard/`);
      } else {
        assert.match(url, new RegExp(`^${origin}/apis/analytics\\.mirrord\\.metalbear\\.co/v1alpha1/usagereports/all-time(/trends|/summary)?\\?`), "only the aggregated API");
      }
    }

    // Downloads ask the report resource for a file, like the standalone API.
    const xlsx = await download(page, log, "download-xlsx", "xlsx");
    assert.equal(xlsx.bytes.subarray(0, 2).toString("latin1"), "PK");
    assert.ok(xlsx.url.pathname.endsWith("/usagereports/all-time"), xlsx.url.pathname);
    assert.equal(xlsx.url.searchParams.get("from"), `${big.fromDay}T00:00:00Z`);
    const csv = await download(page, log, "download-csv", "csv");
    assert.equal(csv.url.origin, origin, "through the proxy");
    assert.ok(csv.url.pathname.endsWith("/usagereports/all-time"), csv.url.pathname);
    assert.equal(csv.url.searchParams.get("from"), `${big.fromDay}T00:00:00Z`);
    assert.deepEqual(csv.bytes, await apiFile(csv.url), "the file is the server's export, byte for byte");
    assert.deepEqual(sentCredentials, [], "the proxy adds the user's credentials; the page sends none");
    await context.close();
  });

  test("through kubectl proxy: Kubernetes' 403 and omitted per-user rows say which role to ask for", async () => {
    const proxy = await startKubectlProxy(server.url, KEY);
    proxies.push(proxy);
    const denied =
      'usagereports.analytics.mirrord.metalbear.co "all-time" is forbidden: User "bob" cannot get resource "usagereports/trends" in API group "analytics.mirrord.metalbear.co" at the cluster scope';
    const omittedReason =
      'User "bob" cannot list resource "mirrordusers" in API group "analytics.mirrord.metalbear.co" at the cluster scope: per-user rows are left out';
    const { page, context, log } = await openDashboard("", {
      base: proxy.url,
      key: null,
      clean: false,
      init: async (p) => {
        await p.route((url) => isTrends(url.toString()), (route) => route.fulfill({ status: 403, json: kubernetesStatus(403, denied) }));
        await p.route(
          (url) => isUsageJson(url.toString()),
          async (route) => {
            const response = await route.fetch();
            const json = await response.json();
            delete json.userMetrics;
            json.userMetricsOmitted = omittedReason;
            await route.fulfill({ response, json });
          },
        );
      },
    });
    await page.waitForSelector(`${testId("trend")} ${testId("error-forbidden")}`);
    assert.match(await page.textContent(testId("error-forbidden")), /mirrord-usage-viewer role/);
    assert.equal(await text(page, "error-forbidden-detail"), denied);
    await page.waitForSelector(testId("user-metrics-omitted"));
    const notices = await page.$$eval(testId("user-metrics-omitted"), (els) => els.map((el) => el.textContent));
    assert.equal(notices.length, 3);
    for (const notice of notices) {
      assert.ok(notice.includes(omittedReason), notice);
      assert.match(notice, /mirrord-usage-analyst role/);
    }
    assert.ok(await page.isVisible(testId("metric-range-user-sessions-value")), "the range totals do not need per-user rows");
    assert.equal(await page.$(testId("sign-in")), null);
    // The browser logs the refused request itself; nothing else may go wrong.
    assert.deepEqual(log.consoleErrors.filter((error) => !/403/.test(error)), []);
    await context.close();
  });

  test("screenshots in light and dark, desktop and narrow, without sideways scrolling", async () => {
    const { big } = RANGES;
    for (const colorScheme of ["light", "dark"]) {
      for (const [name, viewport] of [
        ["desktop", DESKTOP],
        ["narrow", NARROW],
      ]) {
        const { page, context } = await openDashboard(`from=${big.fromDay}&to=${big.toDay}`, { viewport, colorScheme });
        await waitReady(page);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${name} ${colorScheme}: the page scrolls sideways by ${overflow}px`);
        await page.screenshot({ path: join(ARTIFACTS, `dashboard-${colorScheme}-${name}.png`), fullPage: true });
        if (name === "desktop") {
          await page.click(testId("adjust-calculation"));
          await page.screenshot({ path: join(ARTIFACTS, `roi-${colorScheme}-${name}.png`) });
        }
        await context.close();
      }
    }
  });

  test("time to a fully rendered dashboard with 2,000 users", async () => {
    const { big } = RANGES;
    const { page, log, context } = await openDashboard(`from=${big.fromDay}&to=${big.toDay}`, {
      init: (p) =>
        p.addInitScript(() => {
          const observer = new MutationObserver(() => {
            if (document.querySelector('[data-testid="app"][data-ready="true"]')) {
              observer.disconnect();
              window.__readyAt = performance.now();
              requestAnimationFrame(() => (window.__paintedAt = performance.now()));
            }
          });
          observer.observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-ready"] });
        }),
    });
    await waitReady(page);
    await page.waitForFunction(() => window.__paintedAt !== undefined);
    const timing = await page.evaluate(() => {
      const usage = performance.getEntriesByType("resource").find((e) => e.name.includes("/api/v1/reports/usage?"));
      return { ready: window.__readyAt, painted: window.__paintedAt, usageRequest: usage ? usage.duration : null };
    });
    const report = await api(lastRequest(log, isUsageJson));
    assert.equal(report.userMetrics.length, USER_COUNT);
    console.log(
      `# navigation -> all sections rendered with ${USER_COUNT} users: ${Math.round(timing.ready)} ms (next frame ${Math.round(timing.painted)} ms; usage request ${Math.round(timing.usageRequest)} ms); budget ${PERF_BUDGET_MS} ms${timing.painted > PERF_BUDGET_MS ? " — OVER BUDGET" : ""}`,
    );
    await context.close();
  });

  test("no console errors, and no request left the page's origin", () => {
    for (const log of cleanLogs) assert.deepEqual(log.consoleErrors, [], `console errors on ${log.name}`);
    const foreign = allRequests.filter(({ url, origin }) => !url.startsWith("data:") && !url.startsWith("blob:") && new URL(url).origin !== origin);
    assert.deepEqual(foreign, []);
    assert.ok(allRequests.length > 0);
  });
});

async function collectAllPages(page) {
  const seen = new Set();
  for (let guard = 0; guard < 1000; guard++) {
    const ids = await page.$$eval(testId("user-row"), (els) => els.map((el) => el.getAttribute("data-id")));
    const pageNumber = Number(await page.getAttribute(testId("pagination"), "data-page"));
    const pages = Number(await page.getAttribute(testId("pagination"), "data-pages"));
    assert.equal(ids.length, pageNumber < pages ? 20 : ids.length, "20 rows on every page but the last");
    assert.ok(ids.length <= 20 && ids.length > 0);
    ids.forEach((id) => seen.add(id));
    if (pageNumber >= pages) break;
    await page.click(testId("pagination-next"));
    await page.waitForFunction((n) => document.querySelector('[data-testid="pagination"]')?.getAttribute("data-page") === String(n), pageNumber + 1);
  }
  return seen;
}

function nextDay(day) {
  return new Date(Date.parse(`${day}T00:00:00Z`) + 86400_000).toISOString().slice(0, 10);
}
