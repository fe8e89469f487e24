import { describe, expect, it } from "vitest";
import type { UserMetric } from "../api/types";
import { matchesSearch, nextSort, pageCount, pageOf, userLabel, visibleUsers } from "./userTable";

function user(id: string, overrides: Partial<UserMetric> = {}): UserMetric {
  return {
    id,
    kubernetesUsername: `${id}@corp.com`,
    clientUsername: id,
    clientHostname: `${id}-laptop`,
    activeSince: "2026-11-01T00:00:00Z",
    lastSession: "2026-11-02T00:00:00Z",
    sessionCount: 1,
    totalSessionTimeSeconds: 60,
    avgSessionDurationSeconds: 60,
    avgDailySessions: 1,
    ...overrides,
  };
}

describe("user table", () => {
  const rows = [
    user("b", { totalSessionTimeSeconds: 100, sessionCount: 3, lastSession: "2026-11-03T00:00:00Z" }),
    user("a", { totalSessionTimeSeconds: 100, sessionCount: 5 }),
    user("c", { totalSessionTimeSeconds: 300, sessionCount: 1, clientHostname: "build-box" }),
  ];

  it("sorts by total time, largest first, ties by id", () => {
    expect(visibleUsers(rows, "", { key: "totalSessionTimeSeconds", direction: "desc" }).map((r) => r.id)).toEqual(["c", "a", "b"]);
  });

  it("sorts by every column in both directions", () => {
    expect(visibleUsers(rows, "", { key: "sessionCount", direction: "asc" }).map((r) => r.id)).toEqual(["c", "b", "a"]);
    expect(visibleUsers(rows, "", { key: "id", direction: "desc" }).map((r) => r.id)).toEqual(["c", "b", "a"]);
    expect(visibleUsers(rows, "", { key: "lastSession", direction: "desc" }).map((r) => r.id)[0]).toBe("b");
  });

  it("searches the id and every identity field, ignoring case", () => {
    expect(matchesSearch(rows[2]!, "BUILD")).toBe(true);
    expect(matchesSearch(rows[0]!, "b@corp")).toBe(true);
    expect(visibleUsers(rows, "laptop", { key: "id", direction: "asc" }).map((r) => r.id)).toEqual(["a", "b"]);
  });

  it("flips direction on the same column and starts numbers descending", () => {
    expect(nextSort({ key: "id", direction: "asc" }, "id")).toEqual({ key: "id", direction: "desc" });
    expect(nextSort({ key: "id", direction: "asc" }, "sessionCount")).toEqual({ key: "sessionCount", direction: "desc" });
  });

  it("pages 20 rows at a time", () => {
    const many = Array.from({ length: 45 }, (_, i) => i);
    expect(pageCount(45)).toBe(3);
    expect(pageCount(0)).toBe(1);
    expect(pageOf(many, 1)).toHaveLength(20);
    expect(pageOf(many, 3)).toEqual([40, 41, 42, 43, 44]);
    expect(pageOf(many, 9)).toEqual([40, 41, 42, 43, 44]);
  });

  it("names machine IDs after their person", () => {
    expect(userLabel(user("0123456789abcdef"), "machineId")).toBe("0123456789abcdef@corp.com (…abcdef)");
    expect(userLabel(user("m1"), "machineId")).toBe("m1@corp.com (m1)");
    expect(userLabel(user("alice"), "clientUsername")).toBe("alice");
  });
});
