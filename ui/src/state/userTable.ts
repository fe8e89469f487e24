// Searching, sorting and paging the per-user rows. Pure functions so the rules are testable.

import type { PrimaryKey, UserMetric } from "../api/types";

export const PAGE_SIZE = 20;

export type UserSortKey =
  | "id"
  | "activeSince"
  | "lastSession"
  | "totalSessionTimeSeconds"
  | "sessionCount"
  | "avgSessionDurationSeconds";

export type SortDirection = "asc" | "desc";

export interface UserSort {
  key: UserSortKey;
  direction: SortDirection;
}

export const DEFAULT_USER_SORT: UserSort = { key: "totalSessionTimeSeconds", direction: "desc" };

export const PRIMARY_KEY_LABELS: Record<PrimaryKey, string> = {
  machineId: "Machine ID",
  kubernetesUsername: "Kubernetes user",
  clientUsername: "Client user",
  clientHostname: "Hostname",
};

/** Text columns start ascending (A first), numbers and dates descending (largest, newest first). */
export function defaultDirection(key: UserSortKey): SortDirection {
  return key === "id" ? "asc" : "desc";
}

export function nextSort(current: UserSort, key: UserSortKey): UserSort {
  if (current.key !== key) return { key, direction: defaultDirection(key) };
  return { key, direction: current.direction === "asc" ? "desc" : "asc" };
}

export function matchesSearch(row: UserMetric, query: string): boolean {
  const needle = query.trim().toLowerCase();
  if (!needle) return true;
  return [row.id, row.kubernetesUsername, row.clientUsername, row.clientHostname].some(
    (field) => field != null && field.toLowerCase().includes(needle),
  );
}

function compareValues(a: UserMetric, b: UserMetric, key: UserSortKey): number {
  switch (key) {
    case "id":
      return (a.id ?? "").localeCompare(b.id ?? "");
    case "activeSince":
    case "lastSession":
      return Date.parse(a[key]) - Date.parse(b[key]);
    default:
      return a[key] - b[key];
  }
}

function byCodePoint(a: string | null, b: string | null): number {
  const x = a ?? "";
  const y = b ?? "";
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Filtered and sorted rows; ties are broken by id so the order is stable across reloads. */
export function visibleUsers(rows: readonly UserMetric[], query: string, sort: UserSort): UserMetric[] {
  const factor = sort.direction === "asc" ? 1 : -1;
  return rows
    .filter((row) => matchesSearch(row, query))
    .sort((a, b) => factor * compareValues(a, b, sort.key) || byCodePoint(a.id, b.id));
}

export function pageCount(total: number, pageSize = PAGE_SIZE): number {
  return Math.max(1, Math.ceil(total / pageSize));
}

export function pageOf<T>(rows: readonly T[], page: number, pageSize = PAGE_SIZE): T[] {
  const last = pageCount(rows.length, pageSize);
  const current = Math.min(Math.max(1, page), last);
  return rows.slice((current - 1) * pageSize, current * pageSize);
}

/**
 * How a user is named in charts. Machine IDs are opaque, so they are shown with the person's
 * Kubernetes or client user name and the start of the ID.
 */
export function userLabel(row: UserMetric, primaryKey: PrimaryKey): string {
  const id = row.id ?? "unknown";
  if (primaryKey !== "machineId") return id;
  const person = row.kubernetesUsername ?? row.clientUsername ?? row.clientHostname;
  const short = id.length > 10 ? `…${id.slice(-6)}` : id;
  return person ? `${person} (${short})` : id;
}
