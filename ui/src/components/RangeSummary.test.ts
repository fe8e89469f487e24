import { describe, expect, it } from "vitest";
import { userMetric } from "../test/fixtures";
import { sparklinePoints } from "./Sparkline";
import { champion } from "./UsageAnalytics";

describe("the champion", () => {
  it("is the user with the most session time, ties going to the first id", () => {
    const users = [
      userMetric(1, { id: "b", totalSessionTimeSeconds: 900 }),
      userMetric(2, { id: "a", totalSessionTimeSeconds: 900 }),
      userMetric(3, { id: "c", totalSessionTimeSeconds: 300 }),
    ];
    expect(champion(users)?.id).toBe("a");
  });

  it("is nobody without sessions, and never the row of sessions without an identity", () => {
    expect(champion([])).toBeNull();
    expect(champion([userMetric(1, { id: null, totalSessionTimeSeconds: 5000 })])).toBeNull();
    expect(champion([userMetric(1, { sessionCount: 0, totalSessionTimeSeconds: 0 })])).toBeNull();
  });
});

describe("sparklines", () => {
  it("span the width and scale to the largest value", () => {
    expect(sparklinePoints([0, 5, 10], 100, 12)).toBe("0.0,11.0 50.0,6.0 100.0,1.0");
    expect(sparklinePoints([0, 0], 100, 12)).toBe("0.0,11.0 100.0,11.0");
  });
});
