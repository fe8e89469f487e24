// What the browser suites share: starting Chromium, finding the dashboard's elements and
// requests, checking that the page shows the numbers of a given report, and axe-core's verdict.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

export const DESKTOP = { width: 1280, height: 900 };
export const READY = '[data-testid="app"][data-ready="true"]';
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** Debian's Chromium (or CHROMIUM_PATH), headless; npm downloads no browser. */
export function launchChromium() {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", headless: true, args: CHROMIUM_ARGS });
}

export const formatCount = (n) => Math.round(n).toLocaleString("en-US");

// Standalone paths, and the aggregated API's (through kube-apiserver).
export function isUsageJson(url) {
  const u = new URL(url);
  return /(\/api\/v1\/reports\/usage|\/usagereports\/all-time)$/.test(u.pathname) && u.searchParams.get("format") === "json";
}

export function isTrends(url) {
  return /(\/api\/v1\/reports\/usage|\/usagereports\/all-time)\/trends$/.test(new URL(url).pathname);
}

export const waitReady = (page) => page.waitForSelector(READY, { timeout: 30_000 });

export const lastRequest = (log, predicate) => {
  const url = log.requests.filter(predicate).at(-1);
  assert.ok(url, "the page made no such request");
  return url;
};

export const testId = (id) => `[data-testid="${id}"]`;
export const dataValue = async (page, id) => Number(await page.getAttribute(testId(id), "data-value"));
export const text = async (page, id) => (await page.textContent(testId(id)))?.trim();

export function assertClose(actual, expected, message, tolerance = Math.max(300, Math.abs(expected) * 0.001)) {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${message}: screen ${actual}, API ${expected}`);
}

/** The range's user sessions and their time come from generalMetrics and agree with the per-user rows. */
export async function assertRangeTotals(page, report) {
  const g = report.generalMetrics;
  assert.equal(await dataValue(page, "metric-range-user-sessions-value"), g.userSessions, "user sessions in range");
  assert.equal(await text(page, "metric-range-user-sessions-value"), formatCount(g.userSessions), "user sessions in range text");
  assertClose(await dataValue(page, "metric-range-session-time-value"), g.userSessionTimeSeconds, "session time in range");
  if (report.userMetrics) {
    assert.equal(g.userSessions, report.userMetrics.reduce((s, u) => s + u.sessionCount, 0), "userSessions = sum over userMetrics");
    assertClose(
      g.userSessionTimeSeconds,
      report.userMetrics.reduce((s, u) => s + u.totalSessionTimeSeconds, 0),
      "userSessionTimeSeconds = sum over userMetrics",
      1,
    );
  }
}

export function sortedForTable(users) {
  return [...users].sort((a, b) => b.totalSessionTimeSeconds - a.totalSessionTimeSeconds || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Checks that every section of the page shows `report` and `trends`, the answers to its own requests. */
export async function assertShowsReport(page, report, trends, roi = { user: 15, ci: 15 }) {
  const { generalMetrics: g, allTimeMetrics: all, ciMetrics: ci } = report;

  const counts = {
    "metric-active-user-sessions-value": g.activeUserSessions,
    "metric-active-ci-sessions-value": ci.currentRunningSessions,
    "metric-max-user-concurrency-value": all.maxConcurrentUserSessions,
    "metric-max-ci-concurrency-value": ci.maxConcurrentCiSessions,
    "metric-range-active-users-value": g.activeUsers,
    "metric-range-ci-sessions-value": ci.totalCiSessions,
  };
  for (const [id, expected] of Object.entries(counts)) {
    assert.equal(await dataValue(page, id), expected, id);
    assert.equal(await text(page, id), formatCount(expected), `${id} text`);
  }

  // Seats are machines with a user session in the range, whatever the primary key.
  assert.equal(Number(await page.getAttribute(testId("metric-licenses-value"), "data-used")), g.licensesUsed, "licenses used");
  assert.equal(
    await text(page, "metric-licenses-value"),
    `${formatCount(g.licensesUsed)} / ${g.totalLicenses == null ? "—" : formatCount(g.totalLicenses)}`,
  );
  assertClose(await dataValue(page, "metric-developer-time-saved-value"), (all.totalSessionCount * roi.user) / 60, "developer time saved", 0.01);
  assertClose(await dataValue(page, "metric-ci-time-saved-value"), (all.totalCiSessionCount * roi.ci) / 60, "CI time saved", 0.01);
  assertClose(
    await dataValue(page, "metric-total-session-time-value"),
    all.totalSessionTimeSeconds + all.totalCiSessionTimeSeconds,
    "total session time (users and CI)",
  );
  assert.match(await text(page, "metric-total-session-time-value"), /(year|month|week|day|hour|minute|second)/);

  assert.equal(await text(page, "tier"), g.tier);
  assert.equal(await text(page, "cluster-name"), g.clusterName ?? "—");
  if (g.operatorVersion) assert.ok((await text(page, "operator-version")).includes(g.operatorVersion));

  await assertRangeTotals(page, report);

  const users = report.userMetrics ?? [];

  const rows = await page.$$eval(`${testId("user-row")}`, (els) => els.map((el) => el.getAttribute("data-id")));
  assert.deepEqual(rows, sortedForTable(users).slice(0, 20).map((u) => u.id), "first page of the user table");
  if (users.length > 0) assert.equal(Number(await page.getAttribute(testId("pagination"), "data-total")), users.length);

  assert.equal(Number(await page.getAttribute(testId("target-table"), "data-rows")), report.targetMetrics.length);
  const namespaces = new Set(report.targetMetrics.map((t) => t.namespace ?? "(no namespace)"));
  if (report.targetMetrics.some((t) => t.sessionCount > 0)) {
    assert.equal(Number(await page.getAttribute(testId("namespace-chart"), "data-points")), Math.min(namespaces.size, 13));
  }
  if (trends.buckets.length > 0) {
    assert.equal(Number(await page.getAttribute(testId("trend-chart"), "data-points")), trends.buckets.length, "trend buckets");
  }
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Runs axe-core in the page and fails on any WCAG 2 A or AA violation, naming each. */
export async function assertAccessible(page, label) {
  if (!(await page.evaluate(() => "axe" in window))) await page.addScriptTag({ content: AXE_SOURCE });
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } });
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 5).join(", ")}`);
  });
  assert.deepEqual(violations, [], `axe-core on ${label}`);
}
