// Browser tests of the dashboard as a cluster's users reach it: through a real `kubectl proxy`
// with their own kubeconfig, in front of a real kube-apiserver that forwards the analytics API
// to the real `mirrord-usage controller`, with the shipped roles deciding what each one sees.
// Binaries: MIRRORD_USAGE_BIN (default ../target/release/mirrord-usage) and
// MIRRORD_USAGE_CLUSTER_BIN (default ../target/debug/mirrord-usage-cluster); kubectl comes from
// the control plane's cache (tests/controlplane/build.sh).

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createCluster, eventually, getRaw, kubectl, locateKubectl, startKubectlProxy } from "./cluster.mjs";
import { assertShowsReport, DESKTOP, isTrends, isUsageJson, launchChromium, testId, text, waitReady } from "./page.mjs";
import { AGGREGATED_DASHBOARD, AGGREGATED_GROUP_VERSION, DIST_DIR, SERVER_BIN, UI_DIR } from "./server.mjs";

const ARTIFACTS = join(UI_DIR, "e2e", "artifacts");
const REPORT = `${AGGREGATED_GROUP_VERSION}usagereports/all-time`;
const VIEWER_ROLE = "mirrord-usage-viewer";
const ANALYST_ROLE = "mirrord-usage-analyst";
/** How often the viewer's page is loaded again when the data changed while it loaded. */
const SETTLE_ATTEMPTS = 5;
/** The users whose dashboards are opened, each behind a `kubectl proxy` of their own. */
const USERS = ["viewer", "auditor", "nobody"];

let cluster;
let kubeconfigs;
let kubectlPath;
let browser;
/** kubectl proxy per user. */
const proxies = {};
/**
 * Every page opened: its proxy's origin, its requests, the ones refused, its console errors and
 * which of those are expected.
 */
const pageLogs = [];

/** A fresh browser page; nothing is opened yet. */
async function newPage(user, name, { expectedErrors = null } = {}) {
  const context = await browser.newContext({ viewport: DESKTOP, colorScheme: "light", reducedMotion: "reduce" });
  const page = await context.newPage();
  const log = { name: `${user}: ${name}`, origin: new URL(proxies[user].url).origin, requests: [], refused: [], consoleErrors: [], expectedErrors };
  page.on("request", (request) => log.requests.push(request.url()));
  page.on("response", (response) => {
    if (response.status() >= 400) log.refused.push(`${response.status()} ${response.url()}`);
  });
  page.on("console", (message) => {
    if (message.type() === "error") log.consoleErrors.push(message.text());
  });
  page.on("pageerror", (error) => log.consoleErrors.push(`uncaught: ${error.message}`));
  pageLogs.push(log);
  return { context, page, log, dashboard: `${proxies[user].url}${AGGREGATED_DASHBOARD}` };
}

const pathOf = (url) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};

/** The figures a viewer's report shows as active users and sessions. */
const headline = (report) => {
  const { activeUsers, userSessions, activeUserSessions } = report.generalMetrics;
  return { activeUsers, userSessions, activeUserSessions };
};

describe("dashboard through kubectl proxy, kube-apiserver and mirrord-usage controller", { concurrency: false }, () => {
  before(async () => {
    assert.ok(existsSync(SERVER_BIN), `mirrord-usage not found at ${SERVER_BIN}: build it (cargo build --release) or set MIRRORD_USAGE_BIN`);
    mkdirSync(ARTIFACTS, { recursive: true });
    kubectlPath = await locateKubectl();
    cluster = createCluster({ controller: SERVER_BIN });
    const started = performance.now();
    ({ kubeconfigs } = await cluster.up());
    console.log(`# control plane and controller up in ${Math.round(performance.now() - started)} ms (state in ${cluster.stateDir})`);

    // The database starts empty; the simulated operator's sessions reach it through the
    // controller's polls.
    const waited = performance.now();
    const sessions = await eventually("a session in the all-time report", async () => {
      const report = await getRaw(kubectlPath, kubeconfigs.admin, REPORT);
      return report.generalMetrics.userSessions > 0 ? report.generalMetrics.userSessions : undefined;
    });
    console.log(`# ${sessions} session(s) recorded after ${Math.round(performance.now() - waited)} ms`);

    await Promise.all(USERS.map(async (user) => (proxies[user] = await startKubectlProxy(kubectlPath, kubeconfigs[user]))));
    browser = await launchChromium();

    // Through kube-apiserver the page is the controller's embedded build, not ui/dist.
    const embedded = await (await fetch(`${proxies.viewer.url}${AGGREGATED_DASHBOARD}`)).text();
    const assets = (html) => [...html.matchAll(/index-[\w-]+\.(?:js|css)/g)].map(([name]) => name).sort();
    if (existsSync(join(DIST_DIR, "index.html")) && assets(embedded).join() !== assets(readFileSync(join(DIST_DIR, "index.html"), "utf8")).join()) {
      console.log(`# ${SERVER_BIN} embeds another build of the dashboard than ui/dist; rebuild it to test this one`);
    }
  });

  after(async () => {
    await browser?.close();
    for (const proxy of Object.values(proxies)) await proxy.stop();
    await cluster?.down();
  });

  test("a viewer sees the totals kubectl gives the viewer for the page's range, and is told per-user data needs the analyst role", async () => {
    const { page, context, log, dashboard } = await newPage("viewer", "the dashboard");
    // What the viewer's kubectl answers for the page's exact request, just before the page asks.
    const answeredBefore = new Map();
    await page.route(
      (url) => isUsageJson(url.toString()),
      async (route) => {
        answeredBefore.set(route.request().url(), await getRaw(kubectlPath, kubeconfigs.viewer, pathOf(route.request().url())));
        await route.continue();
      },
    );

    // Sessions keep arriving, so an answer is only comparable with kubectl's when kubectl said
    // the same just before and just after the page's request; otherwise load it again.
    let settled;
    const attempts = [];
    for (let attempt = 1; attempt <= SETTLE_ATTEMPTS && !settled; attempt++) {
      const usageResponse = page.waitForResponse((r) => isUsageJson(r.url()), { timeout: 30_000 });
      const trendsResponse = page.waitForResponse((r) => isTrends(r.url()), { timeout: 30_000 });
      if (attempt === 1) await page.goto(dashboard);
      else await page.click(testId("refresh"));
      const response = await usageResponse;
      assert.equal(response.status(), 200, `the page's report request answered ${response.status()}`);
      const shown = await response.json();
      const trends = await (await trendsResponse).json();
      const before = answeredBefore.get(response.url());
      const afterwards = await getRaw(kubectlPath, kubeconfigs.viewer, pathOf(response.url()));
      await waitReady(page);
      attempts.push({ before: headline(before), page: headline(shown), after: headline(afterwards) });
      if (JSON.stringify(headline(before)) === JSON.stringify(headline(afterwards))) {
        settled = { url: new URL(response.url()), shown, trends, kubectlAnswer: afterwards };
      }
    }
    assert.ok(settled, `the data changed during every one of ${SETTLE_ATTEMPTS} loads: ${JSON.stringify(attempts)}`);
    console.log(`# the viewer's page and kubectl agreed on load ${attempts.length}: ${JSON.stringify(headline(settled.shown))}`);
    const { url, shown, trends, kubectlAnswer } = settled;

    // The page asked for a range of its own choosing (this month so far) and showed what came back...
    assert.ok(url.searchParams.get("from") && url.searchParams.get("to"), `the page's request names its range: ${url}`);
    assert.equal(shown.kind, "UsageReport");
    assert.ok(shown.generalMetrics.userSessions > 0, "the simulated operator's sessions are in the page's range");
    await assertShowsReport(page, shown, trends);
    // ...which is what the viewer's kubectl gets for the same request.
    assert.deepEqual(headline(shown), headline(kubectlAnswer), "the page's answer and kubectl's for the same URL");

    // The viewer's credentials are the proxy's: no sign-in, and the totals without per-user rows.
    assert.ok(await page.isVisible(testId("section-usage-metrics")), "the headline numbers are shown");
    assert.equal(await page.$(testId("sign-in")), null, "no sign-in form");
    assert.equal(await page.$(testId("sign-out")), null, "nothing to sign out of");
    assert.equal(shown.userMetrics, undefined, "a viewer gets no per-user rows");
    assert.ok(shown.userMetricsOmitted, "the report says why per-user rows are left out");
    assert.equal(kubectlAnswer.userMetrics, undefined, "nor does the viewer's kubectl");
    const notices = await page.$$eval(testId("user-metrics-omitted"), (els) => els.map((el) => el.textContent));
    assert.ok(notices.length > 0, "the per-user sections say that per-user data is left out");
    for (const notice of notices) {
      assert.match(notice, /Per-user data is not shown/);
      assert.ok(notice.includes(ANALYST_ROLE), `names ${ANALYST_ROLE}: ${notice}`);
    }
    assert.equal(await page.$(testId("user-row")), null, "no user rows");

    await page.screenshot({ path: join(ARTIFACTS, "cluster-viewer-desktop.png"), fullPage: true });
    assert.ok(log.requests.some((request) => new URL(request).pathname.startsWith(AGGREGATED_DASHBOARD)));
    await context.close();
  });

  test("the dashboard's address without its trailing slash leads to the page", async () => {
    const { page, context, dashboard } = await newPage("viewer", "without the trailing slash");
    const response = await page.goto(`${dashboard.slice(0, -1)}?range=7d`);
    assert.ok(response.ok(), `${dashboard.slice(0, -1)} answered ${response.status()}`);
    // kube-apiserver passes no redirect status on from an aggregated server: the page forwards.
    await page.waitForURL((url) => url.pathname === AGGREGATED_DASHBOARD, { timeout: 10_000 });
    assert.equal(new URL(page.url()).searchParams.get("range"), "7d", "the view in the query is kept");
    await waitReady(page);
    assert.equal(await page.getAttribute(testId("preset-7d"), "aria-pressed"), "true");
    await context.close();
  });

  test("an auditor sees the per-user rows", async () => {
    const { page, context, dashboard } = await newPage("auditor", "the dashboard");
    const usageResponse = page.waitForResponse((r) => isUsageJson(r.url()), { timeout: 30_000 });
    await page.goto(dashboard);
    const report = await (await usageResponse).json();
    await waitReady(page);
    assert.ok(report.userMetrics?.length > 0, "the auditor's report has per-user rows");
    const rows = await page.$$(testId("user-row"));
    assert.ok(rows.length > 0, "the user table has rows");
    assert.equal(rows.length, Math.min(report.userMetrics.length, 20));
    assert.equal(await page.$(testId("user-metrics-omitted")), null, "nothing is left out");
    await context.close();
  });

  test("the session log lists what kube-apiserver lets the auditor list, and tells a viewer which role it needs", async () => {
    const auditor = await newPage("auditor", "session log");
    const listed = auditor.page.waitForResponse((r) => new URL(r.url()).pathname.endsWith("/mirrordsessions"), { timeout: 30_000 });
    await auditor.page.goto(`${auditor.dashboard}?view=log`);
    const list = await (await listed).json();
    await waitReady(auditor.page);
    assert.equal(list.kind, "MirrordSessionList");
    assert.ok(list.items.length > 0, "the simulated operator's sessions are listed");
    const rows = await auditor.page.$$eval(testId("log-row"), (els) => els.map((el) => el.getAttribute("data-id")));
    assert.deepEqual(rows, list.items.map((s) => s.sessionId));
    await auditor.context.close();

    const viewer = await newPage("viewer", "session log and users", { expectedErrors: /403/ });
    await viewer.page.goto(`${viewer.dashboard}?view=log`);
    await viewer.page.waitForSelector(testId("log-forbidden"));
    assert.match(await text(viewer.page, "log-forbidden"), /mirrord-usage-auditor role/);
    await viewer.page.click(testId("nav-users"));
    await viewer.page.waitForSelector(testId("user-metrics-omitted"));
    assert.match(await text(viewer.page, "user-metrics-omitted"), new RegExp(`${ANALYST_ROLE} role`));
    await viewer.context.close();
  });

  test("a user without a role is refused the page; with the page granted, it names the viewer role", async () => {
    // Out of the box kube-apiserver refuses the page itself, before the dashboard can say anything.
    const refused = await newPage("nobody", "refused", { expectedErrors: /403/ });
    const response = await refused.page.goto(refused.dashboard);
    assert.equal(response.status(), 403);
    const status = await response.json();
    assert.equal(status.kind, "Status");
    assert.equal(status.reason, "Forbidden");
    assert.match(status.message, /User "nobody" cannot \w+ resource "dashboard"/);
    assert.equal(await refused.page.$(testId("app")), null);
    await refused.context.close();

    // A cluster may let every signed-in user load the page (its files are not secret); the data
    // stays behind the shipped roles, and the page says which one to ask for.
    const grant = {
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: { name: "mirrord-usage-dashboard-page" },
          rules: [{ apiGroups: ["analytics.mirrord.metalbear.co"], resources: ["dashboard"], verbs: ["get", "list"] }],
        },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRoleBinding",
          metadata: { name: "mirrord-usage-dashboard-page:authenticated" },
          roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "mirrord-usage-dashboard-page" },
          subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "system:authenticated" }],
        },
      ],
    };
    await kubectl(kubectlPath, kubeconfigs.admin, ["create", "-f", "-"], JSON.stringify(grant));
    await eventually("nobody may load the page", async () => {
      await kubectl(kubectlPath, kubeconfigs.nobody, ["get", "--raw", AGGREGATED_DASHBOARD]);
      return true;
    });

    const { page, context, dashboard } = await newPage("nobody", "page granted", { expectedErrors: /403/ });
    const usageResponse = page.waitForResponse((r) => isUsageJson(r.url()), { timeout: 30_000 });
    const trendsResponse = page.waitForResponse((r) => isTrends(r.url()), { timeout: 30_000 });
    await page.goto(dashboard);
    assert.equal((await usageResponse).status(), 403);
    assert.equal((await trendsResponse).status(), 403);
    await page.waitForSelector(`${testId("section-usage-metrics")} ${testId("error-forbidden")}`);
    await page.waitForSelector(`${testId("trend")} ${testId("error-forbidden")}`);
    const notices = await page.$$eval(testId("error-forbidden"), (els) => els.map((el) => el.textContent));
    for (const notice of notices) assert.ok(notice.includes(VIEWER_ROLE), `names ${VIEWER_ROLE}: ${notice}`);
    assert.match(await text(page, "error-forbidden-detail"), /User "nobody" cannot get resource "usagereports/);
    assert.equal(await page.$(testId("sign-in")), null, "no sign-in form");
    assert.equal(await page.$(testId("metric-range-user-sessions-value")), null, "no numbers");
    await context.close();
  });

  test("no console errors but the expected 403s, and no request left the proxy's origin", () => {
    assert.ok(pageLogs.length > 0);
    for (const { name, origin, requests, refused, consoleErrors, expectedErrors } of pageLogs) {
      const unexpected = consoleErrors.filter((error) => !expectedErrors?.test(error));
      assert.deepEqual(unexpected, [], `console errors on ${name} (refused: ${refused.join(", ") || "none"})`);
      const foreign = requests.filter((url) => !url.startsWith("data:") && !url.startsWith("blob:") && new URL(url).origin !== origin);
      assert.deepEqual(foreign, [], `requests from ${name} that left ${origin}`);
    }
  });
});
