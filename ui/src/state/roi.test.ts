import { beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_ROI, hoursSaved, loadRoi, parseMinutes, saveRoi, timeSaved } from "./roi";

describe("parseMinutes", () => {
  it.each([
    ["15", 15],
    [" 7.5 ", 7.5],
    ["0", 0],
    [".5", 0.5],
    ["1440", 1440],
  ])("accepts %j", (input, expected) => {
    expect(parseMinutes(input)).toEqual({ ok: true, value: expected });
  });

  it.each(["-1", "-0.5", "abc", "", "  ", "1e3", "0x10", "15min", "NaN", "Infinity", "1441"])("refuses %j", (input) => {
    const result = parseMinutes(input);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.message.length).toBeGreaterThan(0);
  });

  it("says why a negative value is refused", () => {
    expect(parseMinutes("-5")).toEqual({ ok: false, message: "Minutes saved cannot be negative." });
  });
});

describe("time saved", () => {
  it("multiplies sessions by minutes and converts to hours", () => {
    expect(hoursSaved(1049, 15)).toBeCloseTo(262.25);
    expect(hoursSaved(0, 15)).toBe(0);
  });

  it("adds developer and CI time", () => {
    expect(timeSaved(120, 30, { userMinutesPerSession: 15, ciMinutesPerSession: 10 })).toEqual({
      developerHours: 30,
      ciHours: 5,
      totalHours: 35,
    });
  });
});

describe("persistence", () => {
  beforeEach(() => localStorage.clear());

  it("defaults to 15 minutes each", () => {
    expect(loadRoi()).toEqual(DEFAULT_ROI);
    expect(DEFAULT_ROI).toEqual({ userMinutesPerSession: 15, ciMinutesPerSession: 15 });
  });

  it("remembers a saved choice", () => {
    saveRoi({ userMinutesPerSession: 20, ciMinutesPerSession: 5 });
    expect(loadRoi()).toEqual({ userMinutesPerSession: 20, ciMinutesPerSession: 5 });
  });

  it("ignores a stored value that is not valid", () => {
    localStorage.setItem("mirrord-usage.roi", JSON.stringify({ userMinutesPerSession: -3, ciMinutesPerSession: 5 }));
    expect(loadRoi()).toEqual(DEFAULT_ROI);
    localStorage.setItem("mirrord-usage.roi", "{not json");
    expect(loadRoi()).toEqual(DEFAULT_ROI);
  });
});
