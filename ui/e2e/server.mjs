// Starts the real `mirrord-usage serve` on a fresh database and, where needed, a same-origin
// static server for ui/dist that forwards API calls to it, or one that stands in for
// `kubectl proxy` in front of kube-apiserver and the aggregated API.

import { spawn } from "node:child_process";
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve, sep } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export const UI_DIR = resolve(fileURLToPath(new URL("..", import.meta.url)));
export const DIST_DIR = join(UI_DIR, "dist");
export const SERVER_BIN = resolve(UI_DIR, process.env.MIRRORD_USAGE_BIN ?? "../target/release/mirrord-usage");
const START_TIMEOUT_MS = 60_000;

/** Runs `mirrord-usage serve` and resolves once it prints its listening line. */
export async function startServer({ licenseKey, licenses = 200, tier = "Enterprise" }) {
  if (!existsSync(SERVER_BIN)) {
    throw new Error(`Server binary not found at ${SERVER_BIN}. Build it (cargo build --release) or set MIRRORD_USAGE_BIN.`);
  }
  const dir = mkdtempSync(join(tmpdir(), "mirrord-usage-e2e-"));
  const db = join(dir, "usage.db");
  const args = ["serve", "--db", db, "--listen", "127.0.0.1:0", "--license-key", licenseKey, "--licenses", String(licenses), "--tier", tier];
  const child = spawn(SERVER_BIN, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" } });
  const stderr = [];
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderr.push(chunk);
    if (process.env.E2E_SERVER_LOG) process.stderr.write(chunk);
  });

  const url = await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`No "listening on" line within ${START_TIMEOUT_MS} ms.\n${stderr.join("")}`)), START_TIMEOUT_MS);
    const lines = createInterface({ input: child.stdout });
    lines.on("line", (line) => {
      const match = /listening on (http:\/\/\S+)/.exec(line);
      if (match) {
        clearTimeout(timer);
        resolvePromise(match[1].replace(/\/$/, ""));
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`mirrord-usage exited before listening (code ${code}, signal ${signal}).\n${stderr.join("")}`));
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });

  return {
    url,
    stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const CONTENT_TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".json": "application/json",
};

/**
 * Serves ui/dist under `prefix` and forwards `<prefix>api/...` to the API server, so the page
 * and its API share one origin exactly as when the product serves both.
 */
export async function startStaticProxy(apiUrl, prefix = "/") {
  const api = new URL(apiUrl);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    if (!url.pathname.startsWith(prefix)) {
      res.writeHead(404).end("not found");
      return;
    }
    const rest = url.pathname.slice(prefix.length);
    if (rest.startsWith("api/")) {
      const upstream = httpRequest(
        { hostname: api.hostname, port: api.port, method: req.method, path: `/${rest}${url.search}`, headers: { ...req.headers, host: api.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on("error", () => res.writeHead(502).end());
      req.pipe(upstream);
      return;
    }
    const file = normalize(join(DIST_DIR, rest === "" ? "index.html" : decodeURIComponent(rest)));
    if (!file.startsWith(DIST_DIR + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(res);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}${prefix}`,
    stop: () => new Promise((r) => server.close(r)),
  };
}

export const AGGREGATED_GROUP_VERSION = "/apis/analytics.mirrord.metalbear.co/v1alpha1/";
export const AGGREGATED_DASHBOARD = `${AGGREGATED_GROUP_VERSION}dashboard/`;

const STATUS_REASONS = { 400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 503: "ServiceUnavailable" };

/** A Kubernetes `Status`, the error body on every aggregated API path. */
export function kubernetesStatus(code, message) {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason: STATUS_REASONS[code] ?? "InternalError", code };
}

function sendJson(res, code, body) {
  res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(body));
}

/**
 * Stands in for `kubectl proxy` in front of kube-apiserver and mirrord-usage's aggregated API,
 * which the browser tests cannot run: the dashboard from ui/dist at `dashboard/<file>` (one
 * segment only, as RBAC can grant nothing deeper), and the `all-time` usage report and its
 * trends answered from the standalone API with the license key standing in for the user's
 * Kubernetes credentials. Errors become `Status` objects, as on the real paths.
 */
export async function startKubectlProxy(apiUrl, licenseKey) {
  const report = `${AGGREGATED_GROUP_VERSION}usagereports/all-time`;
  const upstreamPaths = {
    [report]: "/api/v1/reports/usage",
    [`${report}/trends`]: "/api/v1/reports/usage/trends",
    [`${report}/summary`]: "/api/v1/reports/usage/summary",
    [`${AGGREGATED_GROUP_VERSION}mirrordsessions`]: "/api/v1/reports/usage/sessions",
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy");
    if (url.pathname === AGGREGATED_DASHBOARD.slice(0, -1)) {
      // As the real server does: kube-apiserver would refuse a redirect status.
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end(`<!doctype html><meta http-equiv="refresh" content="0; url=dashboard/${url.search.replace(/&/g, "&amp;")}">`);
      return;
    }
    if (url.pathname.startsWith(AGGREGATED_DASHBOARD)) {
      const rest = decodeURIComponent(url.pathname.slice(AGGREGATED_DASHBOARD.length));
      if (rest.includes("/")) {
        const message = `dashboard "${rest.split("/")[0]}" is forbidden: the subresource "${rest.split("/").slice(1).join("/")}" cannot be granted`;
        sendJson(res, 403, kubernetesStatus(403, message));
        return;
      }
      const file = join(DIST_DIR, rest === "" ? "index.html" : rest);
      if (!existsSync(file) || !statSync(file).isFile()) {
        sendJson(res, 404, kubernetesStatus(404, `dashboard "${rest}" not found`));
        return;
      }
      res.writeHead(200, { "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream" });
      createReadStream(file).pipe(res);
      return;
    }
    const upstreamPath = upstreamPaths[url.pathname];
    if (!upstreamPath || req.method !== "GET") {
      sendJson(res, 404, kubernetesStatus(404, `the server could not find the requested resource (${req.method} ${url.pathname})`));
      return;
    }
    let answer;
    try {
      answer = await fetch(`${apiUrl}${upstreamPath}${url.search}`, { headers: { "x-license-key": licenseKey } });
    } catch {
      sendJson(res, 503, kubernetesStatus(503, "the server is currently unable to handle the request"));
      return;
    }
    const type = answer.headers.get("content-type") ?? "";
    if (!answer.ok) {
      const body = type.includes("json") ? await answer.json() : { message: await answer.text() };
      sendJson(res, answer.status, kubernetesStatus(answer.status, body.message));
    } else if (upstreamPath === "/api/v1/reports/usage" && type.includes("json")) {
      const body = await answer.json();
      sendJson(res, 200, { kind: "UsageReport", apiVersion: AGGREGATED_GROUP_VERSION.slice(6, -1), metadata: { name: "all-time" }, ...body });
    } else {
      const headers = { "content-type": type };
      const disposition = answer.headers.get("content-disposition");
      if (disposition) headers["content-disposition"] = disposition;
      res.writeHead(200, headers).end(Buffer.from(await answer.arrayBuffer()));
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}${AGGREGATED_DASHBOARD}`,
    stop: () => new Promise((r) => server.close(r)),
  };
}

/**
 * Whether the API server itself serves this dashboard at `/`: "current" when it serves exactly
 * the build in ui/dist, "stale" when it serves another build, "absent" otherwise.
 */
export async function serverServesDashboard(apiUrl) {
  try {
    const response = await fetch(`${apiUrl}/`);
    const body = await response.text();
    if (!response.ok || !body.includes('<div id="root">')) return "absent";
    // Asset names carry content hashes, so equal index.html files mean equal builds.
    return body === readFileSync(join(DIST_DIR, "index.html"), "utf8") ? "current" : "stale";
  } catch {
    return "absent";
  }
}
