// A range figure against the same figure in the previous period of equal length: the range
// [from, to) is compared with [from - (to - from), from).

import type { TimeRange } from "./viewState";

const DAY_MS = 24 * 60 * 60 * 1000;

/** The period of equal length that ends where `range` starts. */
export function previousPeriod(range: TimeRange): TimeRange {
  const length = range.to.getTime() - range.from.getTime();
  return { from: new Date(range.from.getTime() - length), to: new Date(range.from.getTime()) };
}

/** `"previous 30 days"`, `"previous day"`, `"previous 12 hours"`. */
export function periodLabel(range: TimeRange): string {
  const length = range.to.getTime() - range.from.getTime();
  const days = Math.round(length / DAY_MS);
  if (days >= 1) return days === 1 ? "previous day" : `previous ${days} days`;
  const hours = Math.max(1, Math.round(length / (60 * 60 * 1000)));
  return hours === 1 ? "previous hour" : `previous ${hours} hours`;
}

export type Change =
  | { kind: "ratio"; ratio: number }
  /** Nothing in the previous period, something now. */
  | { kind: "new" }
  | { kind: "none" };

export function change(current: number, previous: number): Change {
  if (previous === 0) return current === 0 ? { kind: "none" } : { kind: "new" };
  return { kind: "ratio", ratio: (current - previous) / previous };
}

/** `"+12% vs previous 30 days"`, `"−5% vs …"`, `"no change vs …"`, `"new vs …"` (nothing before). */
export function describeChange(current: number, previous: number, label: string): string {
  const result = change(current, previous);
  if (result.kind === "new") return `up from none in the ${label}`;
  if (result.kind === "none" || Math.round(result.ratio * 100) === 0) return `no change vs ${label}`;
  const percent = Math.round(result.ratio * 100);
  return `${percent > 0 ? "+" : "−"}${Math.abs(percent).toLocaleString("en-US")}% vs ${label}`;
}
