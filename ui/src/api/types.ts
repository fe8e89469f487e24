// Shapes of the product's JSON API. What the server answers is generated from its wire types
// (generated.ts, `make ui-types`); the names the dashboard uses for some of them, the error
// bodies and what is the dashboard's own are written here.

import type { Interval, MirrordSessionList, PrimaryKey, TrendReport } from "./generated";

export type * from "./generated";

export const PRIMARY_KEYS: readonly PrimaryKey[] = [
  "machineId",
  "kubernetesUsername",
  "clientUsername",
  "clientHostname",
];

/** A page of the session audit log (`mirrordsessions`). */
export type SessionList = MirrordSessionList;

export type TrendInterval = Interval;

/** `GET /api/v1/reports/usage/trends`. */
export type UsageTrends = TrendReport;

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
