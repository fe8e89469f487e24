import { describe, expect, it } from "vitest";
import { change, describeChange, periodLabel, previousPeriod } from "./comparison";

const at = (iso: string) => new Date(iso);

describe("comparison with the previous period", () => {
  it("takes the period of equal length that ends where the range starts", () => {
    const range = { from: at("2026-11-01T00:00:00Z"), to: at("2026-12-01T00:00:00Z") };
    expect(previousPeriod(range)).toEqual({ from: at("2026-10-02T00:00:00Z"), to: at("2026-11-01T00:00:00Z") });
  });

  it("names the period in days, or hours below a day", () => {
    expect(periodLabel({ from: at("2026-11-01T00:00:00Z"), to: at("2026-12-01T00:00:00Z") })).toBe("previous 30 days");
    expect(periodLabel({ from: at("2026-11-01T00:00:00Z"), to: at("2026-11-02T00:00:00Z") })).toBe("previous day");
    expect(periodLabel({ from: at("2026-11-01T00:00:00Z"), to: at("2026-11-01T06:00:00Z") })).toBe("previous 6 hours");
  });

  it("says how much a figure grew or shrank, rounded to whole percent", () => {
    expect(change(112, 100)).toEqual({ kind: "ratio", ratio: 0.12 });
    expect(describeChange(112, 100, "previous 30 days")).toBe("+12% vs previous 30 days");
    expect(describeChange(95, 100, "previous 7 days")).toBe("−5% vs previous 7 days");
    expect(describeChange(2500, 100, "previous day")).toBe("+2,400% vs previous day");
    expect(describeChange(1001, 1000, "previous day")).toBe("no change vs previous day");
  });

  it("does not divide by an empty previous period", () => {
    expect(change(0, 0)).toEqual({ kind: "none" });
    expect(describeChange(0, 0, "previous 7 days")).toBe("no change vs previous 7 days");
    expect(change(3, 0)).toEqual({ kind: "new" });
    expect(describeChange(3, 0, "previous 7 days")).toBe("up from none in the previous 7 days");
    expect(describeChange(0, 4, "previous 7 days")).toBe("−100% vs previous 7 days");
  });
});
