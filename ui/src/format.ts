// Every number, duration and date the dashboard shows is formatted here, so the same value
// reads the same in a card, a table, a chart tooltip and a CSV file.

const integerFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const oneDecimalFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

export const EMPTY = "—";

/** `1049` -> `"1,049"`. Fractions are rounded to the nearest integer. */
export function formatCount(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return EMPTY;
  return integerFormat.format(n);
}

/** `1.25` -> `"1.3"`, `12` -> `"12"`. */
export function formatDecimal(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n)) return EMPTY;
  return oneDecimalFormat.format(n);
}

/**
 * Session counts in the ROI calculator are shown rounded UP: to tens up to 100, to hundreds
 * above 100 (87 -> 90, 100 -> 100, 101 -> 200, 1,049 -> 1,100).
 */
export function roundUpSessions(n: number): number {
  if (!Number.isFinite(n) || n <= 0) return 0;
  const whole = Math.ceil(n);
  const step = whole <= 100 ? 10 : 100;
  return Math.ceil(whole / step) * step;
}

/**
 * Compact form of an already rounded count: `90`, `900`, `1.1K`, `12.4K`, `1.3M`.
 * Rounds up, like `roundUpSessions`, so a compact figure never understates.
 */
export function formatCompactUp(n: number): string {
  if (n < 1000) return integerFormat.format(n);
  const [divisor, suffix] = n < 1_000_000 ? [1000, "K"] : [1_000_000, "M"];
  // Work in tenths of the unit, with a tolerance for floating point (1100 / 100 = 11.000000000000002).
  const tenths = Math.ceil(n / (divisor / 10) - 1e-9);
  return `${oneDecimalFormat.format(tenths / 10)}${suffix}`;
}

/** What the ROI calculator shows for an all-time session count: `"1.1K sessions"`. */
export function formatSessionsRoundedUp(n: number): string {
  const rounded = roundUpSessions(n);
  return `${formatCompactUp(rounded)} ${rounded === 1 ? "session" : "sessions"}`;
}

/** Hours saved: one decimal below 10 hours, whole hours above. `"2.5 hours"`, `"1,235 hours"`. */
export function formatHours(hours: number): string {
  if (!Number.isFinite(hours)) return EMPTY;
  const text = hours < 10 ? oneDecimalFormat.format(hours) : integerFormat.format(hours);
  return `${text} ${text === "1" ? "hour" : "hours"}`;
}

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const YEAR = 365 * DAY;
const MONTH = 30 * DAY;

interface Unit {
  seconds: number;
  singular: string;
  plural: string;
  short: string;
}

const UNITS: Unit[] = [
  { seconds: YEAR, singular: "year", plural: "years", short: "y" },
  { seconds: MONTH, singular: "month", plural: "months", short: "mo" },
  { seconds: WEEK, singular: "week", plural: "weeks", short: "w" },
  { seconds: DAY, singular: "day", plural: "days", short: "d" },
  { seconds: HOUR, singular: "hour", plural: "hours", short: "h" },
  { seconds: MINUTE, singular: "minute", plural: "minutes", short: "m" },
  { seconds: 1, singular: "second", plural: "seconds", short: "s" },
];

/**
 * Splits a duration into its two largest calendar units (a year is 365 days, a month 30 days),
 * dropping what is smaller: 400 days -> 1 year, 1 month; 90 minutes -> 1 hour, 30 minutes.
 */
function splitDuration(seconds: number, units: Unit[]): Array<[number, Unit]> {
  let rest = Math.floor(seconds);
  const parts: Array<[number, Unit]> = [];
  for (const unit of units) {
    const amount = Math.floor(rest / unit.seconds);
    if (amount > 0 || parts.length > 0) {
      parts.push([amount, unit]);
      rest -= amount * unit.seconds;
    }
    if (parts.length === 2) break;
  }
  return parts.filter(([amount]) => amount > 0);
}

/** Long human form for cards: `"1 year, 2 months"`, `"3 weeks, 2 days"`, `"45 minutes"`. */
export function formatDurationLong(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return EMPTY;
  if (seconds < 1) return "0 seconds";
  return splitDuration(seconds, UNITS)
    .map(([amount, unit]) => `${integerFormat.format(amount)} ${amount === 1 ? unit.singular : unit.plural}`)
    .join(", ");
}

const SHORT_UNITS: Unit[] = UNITS.filter((u) => u.seconds <= DAY);

/** Short form for table cells: `"3d 4h"`, `"2h 15m"`, `"12m 5s"`, `"45s"`. Days never roll up. */
export function formatDurationShort(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return EMPTY;
  if (seconds < 1) return "0s";
  return splitDuration(seconds, SHORT_UNITS)
    .map(([amount, unit]) => `${integerFormat.format(amount)}${unit.short}`)
    .join(" ");
}

const dateFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: "UTC",
  year: "numeric",
  month: "short",
  day: "numeric",
});
const dateTimeFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: "UTC",
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});
const timeFormat = new Intl.DateTimeFormat("en-US", {
  timeZone: "UTC",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
const bucketDayFormat = new Intl.DateTimeFormat("en-US", { timeZone: "UTC", month: "short", day: "numeric" });
const bucketMonthFormat = new Intl.DateTimeFormat("en-US", { timeZone: "UTC", month: "short", year: "numeric" });

function toDate(value: string | Date | null | undefined): Date | null {
  if (value == null) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** `"Nov 2, 2026"` (UTC). */
export function formatDate(value: string | Date | null | undefined): string {
  const date = toDate(value);
  return date ? dateFormat.format(date) : EMPTY;
}

/** `"Nov 2, 2026, 10:00 UTC"`. */
export function formatDateTime(value: string | Date | null | undefined): string {
  const date = toDate(value);
  return date ? `${dateTimeFormat.format(date)} UTC` : EMPTY;
}

/** `"10:42:13 UTC"`. */
export function formatTimeOfDay(value: Date): string {
  return `${timeFormat.format(value)} UTC`;
}

/** Label of a trend bucket: `"Nov 2"` for days and weeks, `"Nov 2026"` for months. */
export function formatBucketLabel(start: string, interval: "day" | "week" | "month"): string {
  const date = toDate(start);
  if (!date) return start;
  return interval === "month" ? bucketMonthFormat.format(date) : bucketDayFormat.format(date);
}

/**
 * Ticks of an axis in hours. Below an hour they switch to minutes, then seconds, so an axis over
 * small totals does not read "0 h" on every tick: `2` -> `"2 h"`, `0.25` -> `"15 min"`.
 */
export function formatAxisHours(hours: number): string {
  if (!Number.isFinite(hours)) return EMPTY;
  const magnitude = Math.abs(hours);
  if (magnitude === 0 || magnitude >= 1) return `${formatDecimal(hours)} h`;
  const minutes = hours * 60;
  if (Math.abs(minutes) >= 1) return `${formatDecimal(minutes)} min`;
  return `${formatDecimal(minutes * 60)} s`;
}

/** Seconds as hours for chart axes: `7200` -> `2`. */
export function secondsToHours(seconds: number): number {
  return seconds / HOUR;
}

/** `0.256` -> `"25.6%"`. */
export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return EMPTY;
  return `${oneDecimalFormat.format(fraction * 100)}%`;
}

/** A sum of money in the viewer's currency, whole units: `12345.6` -> `"12,346"`. */
export function formatAmount(n: number): string {
  if (!Number.isFinite(n)) return EMPTY;
  return integerFormat.format(n);
}

/** A ratio as a multiple: `2.345` -> `"2.3×"`. */
export function formatMultiple(n: number | null): string {
  if (n == null || !Number.isFinite(n)) return EMPTY;
  return `${oneDecimalFormat.format(n)}×`;
}
