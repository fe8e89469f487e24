// Shapes of the product's JSON API, as served by `mirrord-usage serve`.

export type PrimaryKey = "machineId" | "kubernetesUsername" | "clientUsername" | "clientHostname";

export const PRIMARY_KEYS: readonly PrimaryKey[] = [
  "machineId",
  "kubernetesUsername",
  "clientUsername",
  "clientHostname",
];

export interface GeneralMetrics {
  totalLicenses: number | null;
  tier: string;
  activeUsers: number;
  reportPeriod: { from: string; to: string };
  operatorVersion: string | null;
  lastOperatorEvent: string | null;
  activeUserSessions: number;
  /** Seats in use: distinct machines (client certificates) with a user session in the period, whatever the primary key. */
  licensesUsed: number;
  /** User sessions that started in the period. */
  userSessions: number;
  /** Total duration of those user sessions, in seconds. */
  userSessionTimeSeconds: number;
  clusterName: string | null;
  chartVersion: string | null;
}

export interface AllTimeMetrics {
  totalSessionCount: number;
  totalSessionTimeSeconds: number;
  totalCiSessionCount: number;
  totalCiSessionTimeSeconds: number;
  maxConcurrentUserSessions: number;
  firstSessionAt: string | null;
}

export interface CiMetrics {
  currentRunningSessions: number;
  maxConcurrentCiSessions: number;
  totalCiSessions: number;
  avgCiSessionDurationSeconds: number | null;
}

export interface UserMetric {
  id: string | null;
  kubernetesUsername: string | null;
  clientUsername: string | null;
  clientHostname: string | null;
  activeSince: string;
  lastSession: string;
  sessionCount: number;
  totalSessionTimeSeconds: number;
  avgSessionDurationSeconds: number;
  avgDailySessions: number;
}

export interface TargetMetric {
  namespace: string | null;
  kind: string | null;
  name: string | null;
  sessionCount: number;
  totalSessionTimeSeconds: number;
  uniqueUsers: number;
}

export interface UsageReport {
  generalMetrics: GeneralMetrics;
  allTimeMetrics: AllTimeMetrics;
  ciMetrics: CiMetrics;
  /** Absent when the viewer may not see per-user data; `userMetricsOmitted` says why. */
  userMetrics?: UserMetric[];
  userMetricsOmitted?: string;
  targetMetrics: TargetMetric[];
}

/** `GET /api/v1/reports/usage/summary`: a range's figures, as in the usage report. */
export interface UsageSummary {
  reportPeriod: { from: string; to: string };
  activeUsers: number;
  licensesUsed: number;
  userSessions: number;
  userSessionTimeSeconds: number;
  ciSessions: number;
}

/** One session of the audit log (`mirrordsessions`). */
export interface MirrordSession {
  sessionId: string;
  machineId: string | null;
  kubernetesUsername: string | null;
  clientUsername: string | null;
  clientHostname: string | null;
  target: { kind: string; name: string; container: string | null } | null;
  namespace: string | null;
  start: string;
  end: string | null;
  running: boolean;
  durationSeconds: number;
  ci: { provider: string | null; pipeline: string | null; environment: string | null; triggeredBy: string | null } | null;
  cliVersion: string | null;
  operatorVersion: string | null;
  /** How the operator said the session closed, e.g. `Unused`; absent when it did not say. */
  closeReason?: string;
  /** Multi-cluster sessions: the parent session on the primary cluster. */
  multiClusterParent?: string;
}

export interface SessionList {
  kind: "MirrordSessionList";
  metadata: { continue?: string };
  items: MirrordSession[];
}

export type TrendInterval = "day" | "week" | "month";

export interface TrendBucket {
  start: string;
  userSessions: number;
  ciSessions: number;
  sessionTimeSeconds: number;
  activeUsers: number;
  newUsers: number;
}

export interface UsageTrends {
  interval: TrendInterval;
  buckets: TrendBucket[];
}

/** Error body of every non-2xx JSON response of the standalone API (`/api/v1`). */
export interface ApiErrorBody {
  error: string;
  message: string;
  details?: unknown[];
}

/** Error body on the aggregated API's paths, from the server or from kube-apiserver itself. */
export interface KubernetesStatus {
  kind: "Status";
  apiVersion: "v1";
  status: "Failure";
  message: string;
  /** `Forbidden`, `NotFound`, `Unauthorized`, … */
  reason?: string;
  code: number;
  details?: { name?: string; kind?: string; causes?: Array<{ message?: string }> };
}
