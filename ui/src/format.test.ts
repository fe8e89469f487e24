import { describe, expect, it } from "vitest";
import {
  formatAmount,
  formatAxisHours,
  formatBucketLabel,
  formatCompactUp,
  formatCount,
  formatDate,
  formatDateTime,
  formatDurationLong,
  formatDurationShort,
  formatHours,
  formatMultiple,
  formatSessionsRoundedUp,
  roundUpSessions,
} from "./format";

const MINUTE = 60;
const HOUR = 3600;
const DAY = 24 * HOUR;

describe("roundUpSessions", () => {
  it.each([
    [0, 0],
    [1, 10],
    [10, 10],
    [11, 20],
    [87, 90],
    [99, 100],
    [100, 100],
    [101, 200],
    [999, 1000],
    [1000, 1000],
    [1001, 1100],
    [1049, 1100],
    [1051, 1100],
    [1100, 1100],
    [12_345, 12_400],
  ])("rounds %d up to %d", (input, expected) => {
    expect(roundUpSessions(input)).toBe(expected);
  });

  it("treats negative and non-finite counts as zero", () => {
    expect(roundUpSessions(-5)).toBe(0);
    expect(roundUpSessions(Number.NaN)).toBe(0);
  });
});

describe("formatSessionsRoundedUp", () => {
  it.each([
    [0, "0 sessions"],
    [87, "90 sessions"],
    [99, "100 sessions"],
    [100, "100 sessions"],
    [101, "200 sessions"],
    [999, "1K sessions"],
    [1000, "1K sessions"],
    [1049, "1.1K sessions"],
    [1051, "1.1K sessions"],
    [1101, "1.2K sessions"],
    [25_001, "25.1K sessions"],
    [999_999, "1M sessions"],
    [1_234_567, "1.3M sessions"],
  ])("shows %d as %s", (input, expected) => {
    expect(formatSessionsRoundedUp(input)).toBe(expected);
  });
});

describe("formatCompactUp", () => {
  it("keeps numbers below a thousand whole", () => {
    expect(formatCompactUp(900)).toBe("900");
  });
  it("never rounds down", () => {
    expect(formatCompactUp(1101)).toBe("1.2K");
    expect(formatCompactUp(1100)).toBe("1.1K");
  });
});

describe("formatDurationLong", () => {
  it.each([
    [0, "0 seconds"],
    [45, "45 seconds"],
    [MINUTE, "1 minute"],
    [90 * MINUTE, "1 hour, 30 minutes"],
    [2 * HOUR, "2 hours"],
    [DAY + 5 * HOUR, "1 day, 5 hours"],
    [9 * DAY, "1 week, 2 days"],
    [14 * DAY + 3 * HOUR, "2 weeks"],
    [45 * DAY, "1 month, 2 weeks"],
    [365 * DAY, "1 year"],
    [400 * DAY, "1 year, 1 month"],
    [3 * 365 * DAY + 61 * DAY, "3 years, 2 months"],
  ])("shows %d seconds as %s", (seconds, expected) => {
    expect(formatDurationLong(seconds)).toBe(expected);
  });

  it("shows a dash for missing values", () => {
    expect(formatDurationLong(null)).toBe("—");
    expect(formatDurationLong(-1)).toBe("—");
  });

  it("accepts fractional seconds", () => {
    expect(formatDurationLong(3600.7)).toBe("1 hour");
  });
});

describe("formatDurationShort", () => {
  it.each([
    [0.4, "0s"],
    [45, "45s"],
    [12 * MINUTE + 5, "12m 5s"],
    [2 * HOUR + 15 * MINUTE, "2h 15m"],
    [3 * DAY + 4 * HOUR, "3d 4h"],
    [40 * DAY, "40d"],
  ])("shows %d seconds as %s", (seconds, expected) => {
    expect(formatDurationShort(seconds)).toBe(expected);
  });
});

describe("formatAxisHours", () => {
  it("keeps hours from one hour up and switches to minutes, then seconds, below", () => {
    expect(formatAxisHours(0)).toBe("0 h");
    expect(formatAxisHours(2)).toBe("2 h");
    expect(formatAxisHours(1.25)).toBe("1.3 h");
    expect(formatAxisHours(0.25)).toBe("15 min");
    expect(formatAxisHours(0.002)).toBe("7.2 s");
    expect(formatAxisHours(Number.NaN)).toBe("—");
  });
});

describe("formatHours", () => {
  it("shows one decimal below ten hours and whole hours above", () => {
    expect(formatHours(2.5)).toBe("2.5 hours");
    expect(formatHours(1)).toBe("1 hour");
    expect(formatHours(0)).toBe("0 hours");
    expect(formatHours(1234.6)).toBe("1,235 hours");
  });
});

describe("counts and dates", () => {
  it("groups thousands", () => {
    expect(formatCount(1049)).toBe("1,049");
    expect(formatCount(null)).toBe("—");
  });

  it("shows dates in UTC", () => {
    expect(formatDate("2026-11-02T23:30:00Z")).toBe("Nov 2, 2026");
    expect(formatDateTime("2026-11-02T10:05:00Z")).toBe("Nov 2, 2026, 10:05 UTC");
    expect(formatDate("not a date")).toBe("—");
  });

  it("labels trend buckets by interval", () => {
    expect(formatBucketLabel("2026-11-02T00:00:00Z", "day")).toBe("Nov 2");
    expect(formatBucketLabel("2026-11-01T00:00:00Z", "month")).toBe("Nov 2026");
  });
});

describe("money and multiples", () => {
  it("shows whole units and one decimal of a multiple", () => {
    expect(formatAmount(12345.6)).toBe("12,346");
    expect(formatAmount(-500)).toBe("-500");
    expect(formatMultiple(2.345)).toBe("2.3×");
    expect(formatMultiple(null)).toBe("—");
  });
});
