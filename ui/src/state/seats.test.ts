import { describe, expect, it } from "vitest";
import { userMetric } from "../test/fixtures";
import { idleDays, inactiveCutoff, inactiveSeats, parseInactiveDays } from "./seats";

const NOW = new Date("2026-11-25T12:00:00Z");

describe("inactive seats", () => {
  const machine = (id: string, lastSession: string) => userMetric(0, { id, lastSession });

  it("lists machines whose last session is older than N days, longest idle first", () => {
    const rows = [
      machine("recent", "2026-11-20T09:00:00Z"),
      machine("old", "2026-09-01T09:00:00Z"),
      machine("older", "2026-06-01T09:00:00Z"),
    ];
    expect(inactiveSeats(rows, NOW, 30).map((r) => r.id)).toEqual(["older", "old"]);
    expect(inactiveSeats(rows, NOW, 3).map((r) => r.id)).toEqual(["older", "old", "recent"]);
    expect(inactiveSeats(rows, NOW, 365)).toEqual([]);
  });

  it("counts a session exactly at the cut-off as activity", () => {
    expect(inactiveCutoff(NOW, 30).toISOString()).toBe("2026-10-26T12:00:00.000Z");
    expect(inactiveSeats([machine("edge", "2026-10-26T12:00:00Z")], NOW, 30)).toEqual([]);
    expect(inactiveSeats([machine("edge", "2026-10-26T11:59:59Z")], NOW, 30).map((r) => r.id)).toEqual(["edge"]);
  });

  it("gives whole idle days and accepts whole days from 1 to ten years", () => {
    expect(idleDays("2026-10-26T11:59:59Z", NOW)).toBe(30);
    expect(parseInactiveDays("30")).toBe(30);
    expect(parseInactiveDays(" 90 ")).toBe(90);
    for (const bad of [null, "", "0", "-3", "1.5", "abc", "3651", "1e3"]) expect(parseInactiveDays(bad)).toBeNull();
  });
});
