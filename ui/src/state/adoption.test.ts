import { describe, expect, it } from "vitest";
import { userMetric } from "../test/fixtures";
import { adoptionInterval, cumulativeUsers, returningUsers } from "./adoption";

const bucket = (start: string, newUsers: number) => ({ start, newUsers, userSessions: 0, ciSessions: 0, sessionTimeSeconds: 0, activeUsers: 0 });

describe("adoption", () => {
  it("adds up new users into users ever seen", () => {
    expect(cumulativeUsers([bucket("2026-01-01T00:00:00Z", 3), bucket("2026-02-01T00:00:00Z", 0), bucket("2026-03-01T00:00:00Z", 4)])).toEqual([
      { start: "2026-01-01T00:00:00Z", total: 3 },
      { start: "2026-02-01T00:00:00Z", total: 3 },
      { start: "2026-03-01T00:00:00Z", total: 7 },
    ]);
  });

  it("tells returning users from one-time users, leaving out sessions without an identity", () => {
    const users = [userMetric(1, { sessionCount: 1 }), userMetric(2, { sessionCount: 5 }), userMetric(3, { id: null, sessionCount: 9 })];
    expect(returningUsers(users)).toEqual({ returning: 1, oneTime: 1 });
  });

  it("counts per week up to a year and per month beyond", () => {
    const from = new Date("2025-01-01T00:00:00Z");
    expect(adoptionInterval({ from, to: new Date("2025-12-31T00:00:00Z") })).toBe("week");
    expect(adoptionInterval({ from, to: new Date("2026-06-01T00:00:00Z") })).toBe("month");
  });
});
