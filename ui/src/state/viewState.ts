// What the viewer is looking at (time range and primary key), kept in the URL query so a view
// can be shared by copying the address. The license key never goes into the URL.

import { PRIMARY_KEYS, type PrimaryKey, type TrendInterval } from "../api/types";

export type Preset = "month" | "7d" | "30d" | "90d" | "all";

export const PRESETS: ReadonlyArray<{ preset: Exclude<Preset, "month">; label: string }> = [
  { preset: "7d", label: "7d" },
  { preset: "30d", label: "30d" },
  { preset: "90d", label: "90d" },
  { preset: "all", label: "All" },
];

export type RangeChoice =
  | { kind: "preset"; preset: Preset }
  /** Whole UTC days, `YYYY-MM-DD`, both inclusive. */
  | { kind: "custom"; fromDay: string; toDay: string };

export interface ViewState {
  range: RangeChoice;
  primaryKey: PrimaryKey;
}

export interface TimeRange {
  from: Date;
  to: Date;
}

export const DEFAULT_VIEW: ViewState = { range: { kind: "preset", preset: "month" }, primaryKey: "machineId" };

const DAY_MS = 24 * 60 * 60 * 1000;
/** Start of "All" before the first session is known. */
export const BEGINNING_OF_TIME = new Date(Date.UTC(1970, 0, 1));

const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

export function parseDay(day: string): Date | null {
  if (!DAY_PATTERN.test(day)) return null;
  const date = new Date(`${day}T00:00:00Z`);
  return Number.isNaN(date.getTime()) || toDay(date) !== day ? null : date;
}

/** `YYYY-MM-DD` of a date in UTC. */
export function toDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

function startOfUtcDay(date: Date): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
}

function isPrimaryKey(value: string | null): value is PrimaryKey {
  return value !== null && (PRIMARY_KEYS as readonly string[]).includes(value);
}

export function parseViewState(search: string): ViewState {
  const params = new URLSearchParams(search);
  const primaryKey = params.get("primaryKey");
  const state: ViewState = { ...DEFAULT_VIEW, primaryKey: isPrimaryKey(primaryKey) ? primaryKey : DEFAULT_VIEW.primaryKey };

  const preset = params.get("range");
  if (preset === "7d" || preset === "30d" || preset === "90d" || preset === "all" || preset === "month") {
    return { ...state, range: { kind: "preset", preset } };
  }
  const fromDay = params.get("from") ?? "";
  const toDayParam = params.get("to") ?? "";
  const from = parseDay(fromDay);
  const to = parseDay(toDayParam);
  if (from && to && from <= to) {
    return { ...state, range: { kind: "custom", fromDay, toDay: toDayParam } };
  }
  return state;
}

/** The query string for a view, keeping unrelated parameters and dropping `key`. */
export function serializeViewState(state: ViewState, currentSearch = ""): string {
  const params = new URLSearchParams(currentSearch);
  for (const name of ["range", "from", "to", "primaryKey", "key"]) params.delete(name);
  if (state.range.kind === "preset") {
    if (state.range.preset !== "month") params.set("range", state.range.preset);
  } else {
    params.set("from", state.range.fromDay);
    params.set("to", state.range.toDay);
  }
  if (state.primaryKey !== DEFAULT_VIEW.primaryKey) params.set("primaryKey", state.primaryKey);
  const query = params.toString();
  return query ? `?${query}` : "";
}

/**
 * The instants a range choice stands for at `now`. Custom ranges cover whole UTC days and never
 * reach past now; "All" starts at the day of the first session once that is known.
 */
export function resolveRange(choice: RangeChoice, now: Date, firstSessionAt?: string | null): TimeRange {
  if (choice.kind === "custom") {
    const from = parseDay(choice.fromDay) ?? startOfUtcDay(now);
    const endOfToDay = new Date((parseDay(choice.toDay) ?? startOfUtcDay(now)).getTime() + DAY_MS);
    const to = endOfToDay > now ? now : endOfToDay;
    return { from: from > to ? startOfUtcDay(to) : from, to };
  }
  switch (choice.preset) {
    case "month":
      return { from: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)), to: now };
    case "7d":
      return { from: new Date(now.getTime() - 7 * DAY_MS), to: now };
    case "30d":
      return { from: new Date(now.getTime() - 30 * DAY_MS), to: now };
    case "90d":
      return { from: new Date(now.getTime() - 90 * DAY_MS), to: now };
    case "all": {
      const first = firstSessionAt ? new Date(firstSessionAt) : null;
      const from = first && !Number.isNaN(first.getTime()) && first < now ? startOfUtcDay(first) : BEGINNING_OF_TIME;
      return { from, to: now };
    }
  }
}

/** Trend granularity from the range length: days up to ~90 days, weeks up to ~a year, then months. */
export function chooseInterval(range: TimeRange): TrendInterval {
  const days = (range.to.getTime() - range.from.getTime()) / DAY_MS;
  if (days <= 92) return "day";
  if (days <= 366) return "week";
  return "month";
}

/** The inclusive UTC days a resolved range covers, for the date inputs. */
export function displayedDays(range: TimeRange): { fromDay: string; toDay: string } {
  // `to` is exclusive when it falls on midnight (the end of a whole custom day).
  const lastInstant = new Date(Math.max(range.from.getTime(), range.to.getTime() - 1));
  return { fromDay: toDay(range.from), toDay: toDay(lastInstant) };
}
