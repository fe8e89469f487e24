// Starts a real control plane with `mirrord-usage-cluster` (kube-apiserver and etcd, the
// mirrord-usage roles, `mirrord-usage controller` registered as the aggregated API, a simulated
// mirrord operator) and real `kubectl proxy` processes in front of it, one per user.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as delay } from "node:timers/promises";
import { UI_DIR } from "./server.mjs";

const REPO_DIR = resolve(UI_DIR, "..");
export const CLUSTER_BIN = resolve(UI_DIR, process.env.MIRRORD_USAGE_CLUSTER_BIN ?? "../target/debug/mirrord-usage-cluster");
const PROXY_START_TIMEOUT_MS = 30_000;
const KUBECTL_TIMEOUT_MS = 30_000;

/**
 * Runs a program to completion and resolves with its output; rejects with both streams when it
 * fails. `input` is written to its stdin.
 */
function run(file, args, { input, timeoutMs, cwd } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { cwd, stdio: ["pipe", "pipe", "pipe"] });
    const stdout = [];
    const stderr = [];
    child.stdout.setEncoding("utf8").on("data", (chunk) => stdout.push(chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk) => stderr.push(chunk));
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${file} could not be started: ${error.message}`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const output = { stdout: stdout.join(""), stderr: stderr.join("") };
      if (code === 0) resolvePromise(output);
      else reject(new Error(`${file} ${args.join(" ")} failed (code ${code}, signal ${signal}):\n${output.stderr}${output.stdout}`));
    });
    child.stdin.end(input ?? "");
  });
}

/**
 * kubectl from the control plane's cache: `tests/controlplane/build.sh` prints `KUBECTL=<path>`
 * (with bash's `%q` quoting) and builds nothing when the binaries are cached.
 */
export async function locateKubectl() {
  const script = join(REPO_DIR, "tests", "controlplane", "build.sh");
  const { stdout } = await run(script, [], { cwd: REPO_DIR });
  const line = stdout.split("\n").find((l) => l.startsWith("KUBECTL="));
  if (!line) throw new Error(`${script} printed no KUBECTL=<path> line:\n${stdout}`);
  return line.slice("KUBECTL=".length).replace(/\\(.)/g, "$1");
}

/**
 * A control plane in a fresh state directory. `up` resolves once the controller serves and its
 * APIService is Available, with the admin's and each user's kubeconfig; `down` stops it and may
 * be called whatever `up` did.
 */
export function createCluster({ controller }) {
  const stateDir = mkdtempSync(join(tmpdir(), "mirrord-usage-cluster-e2e-"));
  let stopped = false;
  return {
    stateDir,
    async up() {
      if (!existsSync(CLUSTER_BIN)) {
        throw new Error(
          `mirrord-usage-cluster not found at ${CLUSTER_BIN}. Build it (cargo build -p mirrord-usage-tests --bin mirrord-usage-cluster) or set MIRRORD_USAGE_CLUSTER_BIN.`,
        );
      }
      const args = ["up", "--state-dir", stateDir, "--controller", controller, "--listen", "127.0.0.1:0", "--simulate"];
      // No time limit of our own: the tool has its own, and a first build of the control plane
      // (when nothing is cached) takes many minutes.
      const { stdout, stderr } = await run(CLUSTER_BIN, args);
      // `export KUBECONFIG=<admin>`, then `export KUBECONFIG_<USER>=<path>` per user.
      const kubeconfigs = {};
      for (const [, user, path] of stdout.matchAll(/^export KUBECONFIG(?:_([A-Z]+))?=(.+)$/gm)) {
        kubeconfigs[user ? user.toLowerCase() : "admin"] = path;
      }
      for (const user of ["admin", "viewer", "analyst", "auditor", "nobody"]) {
        if (!kubeconfigs[user]) throw new Error(`mirrord-usage-cluster up printed no kubeconfig for ${user}:\n${stdout}\n${stderr}`);
      }
      return { kubeconfigs, log: stderr };
    },
    async down() {
      if (stopped) return;
      stopped = true;
      try {
        await run(CLUSTER_BIN, ["down", "--state-dir", stateDir], { timeoutMs: 120_000 });
      } finally {
        rmSync(stateDir, { recursive: true, force: true });
      }
    },
  };
}

/** Runs kubectl with a kubeconfig; resolves with its stdout. */
export async function kubectl(kubectlPath, kubeconfig, args, input) {
  const { stdout } = await run(kubectlPath, ["--kubeconfig", kubeconfig, ...args], { input, timeoutMs: KUBECTL_TIMEOUT_MS });
  return stdout;
}

/** `kubectl get --raw <path>` (path and query), parsed as JSON. */
export async function getRaw(kubectlPath, kubeconfig, path) {
  return JSON.parse(await kubectl(kubectlPath, kubeconfig, ["get", "--raw", path]));
}

/** `kubectl proxy` on a free port with this kubeconfig; resolves with its URL once it serves. */
export async function startKubectlProxy(kubectlPath, kubeconfig) {
  const child = spawn(kubectlPath, ["proxy", "--port=0", "--kubeconfig", kubeconfig], { stdio: ["ignore", "pipe", "pipe"] });
  const output = [];
  const url = await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`kubectl proxy did not start within ${PROXY_START_TIMEOUT_MS} ms:\n${output.join("\n")}`)), PROXY_START_TIMEOUT_MS);
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        output.push(line);
        const match = /Starting to serve on (127\.0\.0\.1:\d+)/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolvePromise(`http://${match[1]}`);
        }
      });
    }
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`kubectl proxy exited (code ${code}, signal ${signal}):\n${output.join("\n")}`));
    });
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  }).catch((error) => {
    child.kill("SIGKILL");
    throw error;
  });
  return {
    url,
    output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
    },
  };
}

/**
 * Calls `probe` until it returns something other than undefined, at most `timeoutMs`; what it
 * throws counts as not yet. Rejects with `description` and the last answer or error.
 */
export async function eventually(description, probe, { timeoutMs = 60_000, intervalMs = 500 } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      last = "not yet";
    } catch (error) {
      last = error.message;
    }
    if (Date.now() >= deadline) throw new Error(`${description}: not within ${timeoutMs} ms (last: ${last})`);
    await delay(intervalMs);
  }
}
