// Seats: which machines went without a session for N days (the seats an admin can reclaim).

import type { UserMetric } from "../api/types";

export const DEFAULT_INACTIVE_DAYS = 30;
export const MAX_INACTIVE_DAYS = 3650;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The instant before which a machine's last session makes it inactive. */
export function inactiveCutoff(now: Date, days: number): Date {
  return new Date(now.getTime() - days * DAY_MS);
}

/**
 * Machines (rows grouped by machine ID over all time) whose last session started before the
 * cut-off, longest idle first. A session exactly at the cut-off still counts as activity.
 */
export function inactiveSeats(rows: readonly UserMetric[], now: Date, days: number): UserMetric[] {
  const cutoff = inactiveCutoff(now, days).getTime();
  return rows
    .filter((row) => Date.parse(row.lastSession) < cutoff)
    .sort((a, b) => Date.parse(a.lastSession) - Date.parse(b.lastSession) || (a.id ?? "").localeCompare(b.id ?? ""));
}

/** Whole days since `last`, at `now`. */
export function idleDays(last: string, now: Date): number {
  return Math.floor((now.getTime() - Date.parse(last)) / DAY_MS);
}

/** What the viewer typed as N: whole days from 1 to ten years, else null. */
export function parseInactiveDays(input: string | null): number | null {
  if (input == null || !/^\d{1,4}$/.test(input.trim())) return null;
  const days = Number(input.trim());
  return days >= 1 && days <= MAX_INACTIVE_DAYS ? days : null;
}
