import { describe, expect, it } from "vitest";
import { computeRoi, DEFAULT_ROI_INPUTS, loadRoiInputs, parseAmount, saveRoiInputs } from "./roiCalculator";

const WEEK = 7 * 24 * 3600 * 1000;
const minutes = { userMinutesPerSession: 15, ciMinutesPerSession: 6 };

function memoryStorage(): Storage {
  const values = new Map<string, string>();
  return {
    get length() {
      return values.size;
    },
    clear: () => values.clear(),
    getItem: (key) => values.get(key) ?? null,
    key: (i) => [...values.keys()][i] ?? null,
    removeItem: (key) => void values.delete(key),
    setItem: (key, value) => void values.set(key, value),
  };
}

describe("ROI", () => {
  it("scales the range's saved hours to a year and weighs them against the licence", () => {
    // 4 weeks: 400 user sessions × 15 min = 100 h (25 h a week), 200 CI sessions × 6 min = 20 h (5 h a week).
    const usage = { userSessions: 400, ciSessions: 200, activeUsers: 10, rangeMs: 4 * WEEK };
    const result = computeRoi(usage, minutes, { developers: null, hourlyCost: 100, infrastructurePerYear: 5000, licencePerYear: 50_000 })!;
    expect(result.developers).toBe(10);
    expect(result.hoursPerDeveloperPerWeek).toBeCloseTo(2.5);
    expect(result.hoursPerYear).toBeCloseTo(30 * (365 / 7));
    expect(result.savingsPerYear).toBeCloseTo(30 * (365 / 7) * 100 + 5000);
    expect(result.netReturnPerYear).toBeCloseTo(result.savingsPerYear - 50_000);
    expect(result.returnOnLicence).toBeCloseTo(result.netReturnPerYear / 50_000);
  });

  it("uses the developers given over the active users, and has no ratio without a licence cost", () => {
    const usage = { userSessions: 400, ciSessions: 0, activeUsers: 10, rangeMs: 4 * WEEK };
    const result = computeRoi(usage, minutes, { ...DEFAULT_ROI_INPUTS, developers: 20 })!;
    expect(result.hoursPerDeveloperPerWeek).toBeCloseTo(1.25);
    expect(result.returnOnLicence).toBeNull();
  });

  it("has nothing to say without developers or without a range", () => {
    expect(computeRoi({ userSessions: 1, ciSessions: 0, activeUsers: 0, rangeMs: WEEK }, minutes, DEFAULT_ROI_INPUTS)).toBeNull();
    expect(computeRoi({ userSessions: 1, ciSessions: 0, activeUsers: 3, rangeMs: 0 }, minutes, DEFAULT_ROI_INPUTS)).toBeNull();
  });

  it("reads amounts with thousands separators and refuses the rest", () => {
    expect(parseAmount("75")).toBe(75);
    expect(parseAmount("12,000.50")).toBe(12000.5);
    for (const bad of ["", "-1", "abc", "1e3", "Infinity"]) expect(parseAmount(bad)).toBeNull();
  });

  it("remembers the inputs and ignores what it cannot use", () => {
    const storage = memoryStorage();
    expect(loadRoiInputs(storage)).toEqual(DEFAULT_ROI_INPUTS);
    saveRoiInputs({ developers: 40, hourlyCost: 90, infrastructurePerYear: 1000, licencePerYear: 24_000 }, storage);
    expect(loadRoiInputs(storage)).toEqual({ developers: 40, hourlyCost: 90, infrastructurePerYear: 1000, licencePerYear: 24_000 });
    storage.setItem("mirrord-usage.roi-calculator", '{"developers": -3, "hourlyCost": "lots"}');
    expect(loadRoiInputs(storage)).toEqual({ ...DEFAULT_ROI_INPUTS, developers: null });
  });
});
