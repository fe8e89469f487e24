// Browser tests of each view of the dashboard (Overview, Users, Targets, Seats, Adoption, Session
// log, ROI) against the real `mirrord-usage serve` fed the same data set as dashboard.test.mjs:
// each view shows the API's numbers for its own requests, keeps its state in the URL, works with
// the keyboard, says what is missing when per-user data is not allowed, and has no axe-core
// violation in light or dark.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { buildEvents, chunks, ranges, USER_COUNT } from "./dataset.mjs";
import { DIST_DIR, serverServesDashboard, startServer, startStaticProxy, UI_DIR } from "./server.mjs";
import {
  assertAccessible,
  dataValue,
  DESKTOP,
  isTrends,
  isUsageJson,
  lastRequest,
  launchChromium,
  sortedForTable,
  testId,
  text,
  waitReady,
} from "./page.mjs";

const KEY = "e2e-views-license-key-0123456789";
const ARTIFACTS = join(UI_DIR, "e2e", "artifacts");
const NARROW = { width: 390, height: 844 };
const PERF_BUDGET_MS = 1500;
const DAY_MS = 86400_000;
const NOW = new Date();
const { big } = ranges(NOW);
const BIG = `from=${big.fromDay}&to=${big.toDay}`;

let server;
let proxy;
let appUrl;
let browser;
const consoleErrors = [];
const timings = [];

async function api(url) {
  const response = await fetch(url, { headers: { "x-license-key": KEY } });
  assert.equal(response.status, 200, `GET ${url} answered ${response.status}`);
  return response.json();
}

/** Opens the dashboard at `query`, timing navigation to the first frame after it is ready. */
async function open(query, { viewport = DESKTOP, colorScheme = "light", init } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, acceptDownloads: true, reducedMotion: "reduce" });
  const page = await context.newPage();
  const log = { requests: [] };
  page.on("request", (request) => log.requests.push(request.url()));
  page.on("console", (message) => {
    if (message.type() === "error" && !init) consoleErrors.push(`${query}: ${message.text()}`);
  });
  page.on("pageerror", (error) => consoleErrors.push(`${query}: uncaught ${error.message}`));
  await page.addInitScript(() => {
    const observer = new MutationObserver(() => {
      if (document.querySelector('[data-testid="app"][data-ready="true"]')) {
        observer.disconnect();
        requestAnimationFrame(() => (window.__paintedAt = performance.now()));
      }
    });
    observer.observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-ready"] });
  });
  if (init) await init(page);
  await page.goto(`${appUrl}?${query}&key=${KEY}`);
  await waitReady(page);
  return { page, log, context };
}

async function recordTiming(page, name) {
  await page.waitForFunction(() => window.__paintedAt !== undefined);
  timings.push([name, Math.round(await page.evaluate(() => window.__paintedAt))]);
}

const isSessions = (url) => /\/reports\/usage\/sessions$/.test(new URL(url).pathname);
const isSummary = (url) => /\/reports\/usage\/summary$/.test(new URL(url).pathname);
const isMachineTrends = (url) => isTrends(url) && new URL(url).searchParams.get("primaryKey") === "machineId";
const isAllTimeMachines = (url) =>
  isUsageJson(url) && new URL(url).searchParams.get("from") === "1970-01-01T00:00:00Z" && new URL(url).searchParams.get("primaryKey") === "machineId";

describe("dashboard views against mirrord-usage serve", { concurrency: false }, () => {
  before(async () => {
    assert.ok(existsSync(join(DIST_DIR, "index.html")), "ui/dist is missing: run `npm run build`");
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer({ licenseKey: KEY, licenses: 40, tier: "Enterprise" });
    for (const batch of chunks(buildEvents(NOW), 5000)) {
      const response = await fetch(`${server.url}/api/v1/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-license-key": KEY },
        body: JSON.stringify({ events: batch }),
      });
      assert.ok(response.ok, `ingest answered ${response.status}`);
    }
    if ((await serverServesDashboard(server.url)) === "current") {
      appUrl = `${server.url}/`;
    } else {
      proxy = await startStaticProxy(server.url, "/");
      appUrl = proxy.url;
    }
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    await proxy?.stop();
    await server?.stop();
    if (timings.length) console.log(`# view rendered with ${USER_COUNT} users (ms, budget ${PERF_BUDGET_MS}): ${timings.map(([n, t]) => `${n} ${t}`).join(", ")}`);
  });

  test("overview: champion, sparklines and the comparison with the previous period match the API", async () => {
    const { page, log, context } = await open(BIG);
    await recordTiming(page, "overview");
    const report = await api(lastRequest(log, isUsageJson));
    const usage = new URL(lastRequest(log, isUsageJson));
    const summaryUrl = new URL(lastRequest(log, isSummary));
    const length = Date.parse(usage.searchParams.get("to")) - Date.parse(usage.searchParams.get("from"));
    assert.equal(summaryUrl.searchParams.get("to"), usage.searchParams.get("from"), "the previous period ends where the range starts");
    assert.equal(Date.parse(summaryUrl.searchParams.get("from")), Date.parse(usage.searchParams.get("from")) - length, "and is as long");
    const previous = await api(summaryUrl.toString());
    await page.waitForSelector(testId("metric-range-user-sessions-delta"));
    const best = sortedForTable(report.userMetrics)[0];
    assert.equal(await page.getAttribute(testId("metric-champion-value"), "data-value"), best.id);
    const [now, before] = [report.generalMetrics.userSessions, previous.userSessions];
    const percent = Math.round(((now - before) / before) * 100);
    const expected = before === 0 ? /up from none|no change/ : percent === 0 ? /^no change vs previous \d+ days$/ : new RegExp(`^${percent > 0 ? "\\+" : "−"}${Math.abs(percent).toLocaleString("en-US")}% vs previous \\d+ days$`);
    assert.match(await text(page, "metric-range-user-sessions-delta"), expected);
    const trends = await api(lastRequest(log, isTrends));
    assert.equal(Number(await page.getAttribute(testId("sparkline-user-sessions"), "data-points")), trends.buckets.length);
    await context.close();
  });

  test("users: the scatter, timeline and table hold every user of the range", async () => {
    const { page, log, context } = await open(`${BIG}&view=users`);
    await recordTiming(page, "users");
    assert.equal(await page.getAttribute(testId("nav-users"), "aria-current"), "page");
    const report = await api(lastRequest(log, isUsageJson));
    const users = report.userMetrics;
    assert.equal(Number(await page.getAttribute(testId("user-scatter"), "data-points")), users.filter((u) => u.id !== null && u.sessionCount > 0).length);
    assert.equal(Number(await page.getAttribute(testId("user-timeline"), "data-points")), Math.min(30, users.filter((u) => u.id !== null).length));
    const rows = await page.$$eval(testId("user-row"), (els) => els.map((el) => el.getAttribute("data-id")));
    assert.deepEqual(rows, sortedForTable(users).slice(0, 20).map((u) => u.id));
    assert.equal(Number(await page.getAttribute(testId("pagination"), "data-total")), users.length);
    await context.close();
  });

  test("targets: the scatter and table hold every target of the range", async () => {
    const { page, log, context } = await open(`${BIG}&view=targets`);
    await recordTiming(page, "targets");
    const report = await api(lastRequest(log, isUsageJson));
    assert.equal(Number(await page.getAttribute(testId("target-scatter"), "data-points")), report.targetMetrics.filter((t) => t.sessionCount > 0).length);
    assert.equal(Number(await page.getAttribute(testId("target-table"), "data-rows")), report.targetMetrics.length);
    await context.close();
  });

  test("seats: machines per day against the seats bought, and the inactive machines for N days", async () => {
    const { page, log, context } = await open(`${BIG}&view=seats`);
    await recordTiming(page, "seats");
    const trends = await api(lastRequest(log, isMachineTrends));
    const peak = Math.max(0, ...trends.buckets.map((b) => b.activeUsers));
    assert.equal(await dataValue(page, "metric-seats-peak-value"), peak);
    assert.equal(await dataValue(page, "metric-seats-bought-value"), 40);
    assert.equal(await dataValue(page, "metric-seats-over-value"), trends.buckets.filter((b) => b.activeUsers > 40).length);
    assert.equal(Number(await page.getAttribute(testId("seats-chart"), "data-points")), trends.buckets.length);

    const machinesUrl = lastRequest(log, isAllTimeMachines);
    const machines = (await api(machinesUrl)).userMetrics;
    const asked = Date.parse(new URL(machinesUrl).searchParams.get("to"));
    const inactive = (days) => machines.filter((m) => Date.parse(m.lastSession) < asked - days * DAY_MS).length;
    const count = async () => Number(await page.getAttribute(testId("inactive-summary"), "data-count"));
    assert.equal(await count(), inactive(30));
    assert.ok(inactive(30) > 0 && inactive(30) < machines.length, "the data set has both kinds of machine");

    // N from the keyboard: type, Enter; the URL remembers it.
    await page.focus(testId("inactive-days"));
    await page.keyboard.press("ControlOrMeta+A");
    await page.keyboard.type("120");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => location.search.includes("inactiveDays=120"));
    assert.equal(await count(), inactive(120));
    const [download] = await Promise.all([page.waitForEvent("download"), page.click(testId("inactive-csv"))]);
    assert.match(download.suggestedFilename(), /^mirrord-usage-inactive-seats-120d-\d{4}-\d{2}-\d{2}\.csv$/);
    const csvUrl = new URL(lastRequest(log, (u) => new URL(u).searchParams.get("format") === "csv"));
    assert.equal(csvUrl.searchParams.get("inactiveDays"), "120");
    assert.equal(csvUrl.searchParams.get("primaryKey"), "machineId");
    const served = await fetch(csvUrl, { headers: { "x-license-key": KEY } });
    assert.equal(served.status, 200);
    const csv = readFileSync(await download.path());
    assert.deepEqual(csv, Buffer.from(await served.arrayBuffer()), "the file is the server's export, byte for byte");
    assert.equal(csv.toString("utf8").trim().split(/\r?\n/).length - 1, inactive(120), "one line per machine the table shows");
    const [xlsx] = await Promise.all([page.waitForEvent("download"), page.click(testId("inactive-xlsx"))]);
    assert.match(xlsx.suggestedFilename(), /^mirrord-usage-inactive-seats-120d-\d{4}-\d{2}-\d{2}\.xlsx$/);
    const workbook = new URL(lastRequest(log, (u) => new URL(u).searchParams.get("format") === "xlsx"));
    assert.equal(workbook.searchParams.get("inactiveDays"), "120");
    const sameRows = await api(`${workbook.origin}${workbook.pathname}?${new URLSearchParams({ ...Object.fromEntries(workbook.searchParams), format: "json" })}`);
    assert.equal(sameRows.userMetrics.length, inactive(120), "the workbook's request lists the machines the table shows");
    await context.close();
  });

  test("adoption: new users per week, users ever and returning users match the API", async () => {
    const { page, log, context } = await open(`${BIG}&view=adoption`);
    await recordTiming(page, "adoption");
    const weekly = log.requests.filter((u) => isTrends(u) && new URL(u).searchParams.get("interval") === "week").at(-1);
    const monthly = log.requests.filter((u) => isTrends(u) && new URL(u).searchParams.get("interval") === "month").at(-1);
    const added = (await api(weekly)).buckets.reduce((sum, b) => sum + b.newUsers, 0);
    assert.equal(await dataValue(page, "metric-adoption-new-users-value"), added);
    assert.equal(await dataValue(page, "metric-adoption-users-ever-value"), (await api(monthly)).buckets.reduce((sum, b) => sum + b.newUsers, 0));
    const users = (await api(lastRequest(log, isUsageJson))).userMetrics.filter((u) => u.id !== null);
    assert.equal(await dataValue(page, "metric-adoption-returning-value"), users.filter((u) => u.sessionCount > 1).length);
    assert.equal(await dataValue(page, "metric-adoption-one-time-value"), users.filter((u) => u.sessionCount === 1).length);
    await context.close();
  });

  test("ROI: the figures follow the inputs, scaled from the range to a year, and are remembered", async () => {
    const { page, log, context } = await open(`${BIG}&view=roi`);
    await recordTiming(page, "roi");
    const report = await api(lastRequest(log, isUsageJson));
    const usage = new URL(lastRequest(log, isUsageJson));
    const weeks = (Date.parse(usage.searchParams.get("to")) - Date.parse(usage.searchParams.get("from"))) / (7 * DAY_MS);
    await page.fill(testId("roi-developers"), "50");
    await page.fill(testId("roi-hourly-cost"), "100");
    await page.fill(testId("roi-licence"), "20,000");
    const userHoursPerWeek = (report.generalMetrics.userSessions * 15) / 60 / weeks;
    const ciHoursPerWeek = (report.ciMetrics.totalCiSessions * 15) / 60 / weeks;
    const yearly = (userHoursPerWeek + ciHoursPerWeek) * (365 / 7);
    const close = (a, b) => Math.abs(a - b) <= Math.max(1e-6, Math.abs(b) * 1e-9);
    assert.ok(close(await dataValue(page, "metric-roi-hours-per-developer-value"), userHoursPerWeek / 50));
    assert.ok(close(await dataValue(page, "metric-roi-net-value"), yearly * 100 - 20_000));
    await page.reload();
    await waitReady(page);
    assert.equal(await page.inputValue(testId("roi-licence")), "20000", "the inputs outlive a reload");
    await context.close();
  });

  test("session log: pages and filters give the API's rows; without the auditor role it says so", async () => {
    const { page, log, context } = await open(`${BIG}&view=log`);
    await recordTiming(page, "session log");
    const rows = () => page.$$eval(testId("log-row"), (els) => els.map((el) => el.getAttribute("data-id")));
    const first = await api(lastRequest(log, isSessions));
    assert.deepEqual(await rows(), first.items.map((s) => s.sessionId));
    assert.equal(first.items.length, 50);
    await page.click(testId("log-next"));
    await page.waitForSelector(`${testId("log-table")}[data-page="2"]`);
    await waitReady(page);
    const second = await api(lastRequest(log, isSessions));
    assert.equal(new URL(lastRequest(log, isSessions)).searchParams.get("continue"), first.metadata.continue);
    assert.deepEqual(await rows(), second.items.map((s) => s.sessionId));

    const user = first.items.find((s) => s.kubernetesUsername)?.kubernetesUsername;
    await page.fill(testId("log-user"), user);
    await page.selectOption(testId("log-ci"), "users");
    await page.press(testId("log-user"), "Enter");
    await page.waitForFunction(() => new URLSearchParams(location.search).get("ci") === "false");
    await page.waitForSelector(`${testId("log-table")}[data-page="1"]`);
    await waitReady(page);
    const filtered = await api(lastRequest(log, isSessions));
    assert.ok(filtered.items.length > 0 && filtered.items.every((s) => s.kubernetesUsername === user && s.ci === null));
    assert.deepEqual(await rows(), filtered.items.map((s) => s.sessionId));
    await context.close();

    const denied = await open("view=log", {
      init: (p) => p.route((url) => isSessions(url.toString()), (route) => route.fulfill({ status: 403, json: { error: "forbidden", message: "denied", details: [] } })),
    });
    assert.match(await text(denied.page, "log-forbidden"), /mirrord-usage-auditor role/);
    await denied.context.close();
  });

  test("the navigation works with the keyboard alone, keeps the range, and Back returns", async () => {
    const { page, context } = await open(BIG);
    await page.focus(testId("nav-users"));
    await page.keyboard.press("Enter");
    await page.waitForSelector(testId("view-users"));
    await waitReady(page);
    const url = new URL(page.url());
    assert.equal(url.searchParams.get("view"), "users");
    assert.equal(url.searchParams.get("from"), big.fromDay, "the range stays");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "view-title", "focus moves to the view");
    await page.keyboard.press("Tab");
    assert.ok(await page.evaluate(() => document.activeElement !== document.body));
    await page.goBack();
    await page.waitForSelector(testId("view-overview"));
    assert.equal(new URL(page.url()).searchParams.get("view"), null);
    await context.close();
  });

  test("without per-user data the views name the analyst role; an empty range says so", async () => {
    const omitted = await open("view=users", {
      init: (page) =>
        page.route(
          (url) => isUsageJson(url.toString()),
          async (route) => {
            const response = await route.fetch();
            const json = await response.json();
            delete json.userMetrics;
            json.userMetricsOmitted = "your role may only see totals.";
            await route.fulfill({ response, json });
          },
        ),
    });
    assert.match(await text(omitted.page, "user-metrics-omitted"), /mirrord-usage-analyst role/);
    await omitted.page.click(testId("nav-seats"));
    await omitted.page.waitForSelector(`${testId("section-inactive-seats")} ${testId("user-metrics-omitted")}`);
    await omitted.page.click(testId("nav-overview"));
    await omitted.page.waitForSelector(testId("metric-champion"));
    assert.match(await omitted.page.textContent(testId("metric-champion")), /mirrord-usage-analyst/);
    await omitted.context.close();

    const empty = await open("from=2001-01-01&to=2001-01-31&view=targets");
    assert.match(await empty.page.textContent(testId("section-targets")), /No sessions in this range/);
    await empty.context.close();
  });

  test("every view, light and dark, desktop and narrow: no axe-core violation, no sideways scrolling", async () => {
    for (const view of ["overview", "users", "targets", "seats", "adoption", "log", "roi"]) {
      for (const [colorScheme, name, viewport] of [
        ["light", "desktop", DESKTOP],
        ["dark", "narrow", NARROW],
      ]) {
        const { page, context } = await open(`${BIG}&view=${view}`, { viewport, colorScheme });
        await assertAccessible(page, `${view} ${colorScheme} ${name}`);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${view} ${name}: the page scrolls sideways by ${overflow}px`);
        await page.screenshot({ path: join(ARTIFACTS, `view-${view}-${colorScheme}-${name}.png`), fullPage: true });
        await context.close();
      }
    }
  });

  test("no console errors on pages that did not provoke them", () => {
    assert.deepEqual(consoleErrors, []);
  });
});
