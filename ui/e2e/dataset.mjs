// A deterministic data set for the browser tests, laid out in whole UTC months relative to the
// current one so that every range is in the past:
//   big:    months -5 .. -3, all 2,000 machines, 1-3 sessions each, plus overlapping CI sessions
//   small:  month -1, 45 machines with 2 sessions each
//   recent: a few sessions today, some still running (no sessionEnd)

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const USER_COUNT = 2000;
export const SMALL_USER_COUNT = 45;
/** Machines share Kubernetes users and hostnames, so other primary keys group differently. */
export const KUBERNETES_USER_COUNT = 1800;
export const HOSTNAME_COUNT = 1500;
export const OPEN_USER_SESSIONS = 3;
export const OPEN_CI_SESSIONS = 1;
export const CI_BURST = 4;

const TARGETS = [
  ["shop", "Deployment", "api"],
  ["shop", "Deployment", "web"],
  ["shop", "StatefulSet", "db"],
  ["billing", "Deployment", "invoices"],
  ["billing", "Deployment", "payments"],
  ["billing", "Rollout", "ledger"],
  ["search", "Deployment", "indexer"],
  ["search", "Deployment", "query"],
  ["platform", "Deployment", "gateway"],
  ["platform", "Pod", "debug-pod"],
];

/** Small deterministic PRNG (mulberry32). */
function prng(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const day = (ms) => new Date(ms).toISOString().slice(0, 10);
const monthStart = (now, offset) => Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + offset, 1);

export function machineId(i) {
  return `machine-${String(i).padStart(4, "0")}`;
}

function identity(i) {
  const person = i % KUBERNETES_USER_COUNT;
  return {
    machineId: machineId(i),
    kubernetesUsername: `dev${person}@corp.example`,
    clientUsername: `dev${person}`,
    clientHostname: `host-${String(i % HOSTNAME_COUNT).padStart(4, "0")}`,
  };
}

/** The ranges the tests use, as the `from`/`to` days the dashboard puts in its URL. */
export function ranges(now = new Date()) {
  const bigFrom = monthStart(now, -5);
  const bigTo = monthStart(now, -2) - DAY;
  const smallFrom = monthStart(now, -1);
  const smallTo = monthStart(now, 0) - DAY;
  return {
    big: { fromDay: day(bigFrom), toDay: day(bigTo), from: bigFrom, to: bigTo + DAY },
    small: { fromDay: day(smallFrom), toDay: day(smallTo), from: smallFrom, to: smallTo + DAY },
  };
}

export function buildEvents(now = new Date()) {
  const random = prng(20261102);
  const { big, small } = ranges(now);
  const events = [];
  let sessionNumber = 0;

  function session(i, startMs, durationMs, { ci = null, target = TARGETS[sessionNumber % TARGETS.length], open = false } = {}) {
    const sessionId = `s-${String(++sessionNumber).padStart(6, "0")}`;
    const [namespace, kind, name] = target;
    const start = {
      type: "sessionStart",
      sessionId,
      timestamp: iso(startMs),
      ...identity(i),
      target: { kind, name, container: "app" },
      namespace,
      cliVersion: "3.150.0",
      operatorVersion: "3.120.0",
    };
    if (ci) start.ci = ci;
    events.push(start);
    if (!open) events.push({ type: "sessionEnd", sessionId, timestamp: iso(startMs + durationMs) });
  }

  const bigDays = Math.round((big.to - big.from) / DAY);
  for (let i = 0; i < USER_COUNT; i++) {
    const sessions = 1 + (i % 3);
    for (let s = 0; s < sessions; s++) {
      const dayOffset = Math.floor(random() * bigDays);
      const startMs = big.from + dayOffset * DAY + (8 + Math.floor(random() * 9)) * HOUR + Math.floor(random() * 60) * MINUTE;
      const durationMs = (5 + Math.floor(random() * 175)) * MINUTE;
      session(i, Math.min(startMs, big.to - 4 * HOUR), durationMs);
    }
  }

  // CI sessions in bursts of CI_BURST that run at the same time, from developers' machines.
  const ci = { provider: "github", environment: "staging", pipeline: "integration-tests", triggeredBy: "push" };
  for (let burst = 0; burst < 10; burst++) {
    const startMs = big.from + (3 + burst * 7) * DAY + 2 * HOUR;
    for (let k = 0; k < CI_BURST; k++) session(burst * CI_BURST + k, startMs + k * MINUTE, (20 + k * 5) * MINUTE, { ci });
  }

  for (let i = 0; i < SMALL_USER_COUNT; i++) {
    for (let s = 0; s < 2; s++) {
      const startMs = small.from + (1 + ((i * 7 + s * 11) % 27)) * DAY + (9 + s * 4) * HOUR;
      session(i, startMs, (15 + ((i * 13 + s) % 90)) * MINUTE);
    }
  }

  // Today: a few finished sessions and some still running.
  const nowMs = now.getTime();
  for (let k = 0; k < 5; k++) session(100 + k, nowMs - 5 * HOUR + k * MINUTE, 45 * MINUTE);
  for (let k = 0; k < OPEN_USER_SESSIONS; k++) session(200 + k, nowMs - 2 * HOUR + k * MINUTE, 0, { open: true });
  for (let k = 0; k < OPEN_CI_SESSIONS; k++) session(300 + k, nowMs - 30 * MINUTE, 0, { open: true, ci });

  // Ingest in time order; a start sorts before an end at the same instant.
  events.sort((a, b) => a.timestamp.localeCompare(b.timestamp) || (a.type === b.type ? 0 : a.type === "sessionStart" ? -1 : 1));
  return events;
}

export function chunks(items, size) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
