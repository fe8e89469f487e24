// Starts the real `mirrord-usage serve` on a fresh database and, where needed, a same-origin
// static server for ui/dist that forwards API calls to it.

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
