import { describe, expect, it } from "vitest";
import type { UserMetric } from "../api/types";
import { CSV_COLUMNS, usersToCsv } from "./csv";

const row: UserMetric = {
  id: "m1",
  kubernetesUsername: "alice@corp.com",
  clientUsername: 'Alice "the admin", jr',
  clientHostname: "=cmd|' /C calc'!A0",
  activeSince: "2026-11-01T00:00:00Z",
  lastSession: "2026-11-02T00:00:00Z",
  sessionCount: 3,
  totalSessionTimeSeconds: 5400.5,
  avgSessionDurationSeconds: 1800.1666,
  avgDailySessions: 1.5,
};

describe("usersToCsv", () => {
  it("writes a header and one line per row, in order", () => {
    const lines = usersToCsv([row, { ...row, id: null }], "machineId").trimEnd().split("\r\n");
    expect(lines[0]).toBe(CSV_COLUMNS.join(","));
    expect(lines).toHaveLength(3);
    expect(lines[1]!.startsWith("m1,machineId,alice@corp.com,")).toBe(true);
    expect(lines[2]!.startsWith(",machineId,")).toBe(true);
  });

  it("quotes commas and quotes, and defuses spreadsheet formulas", () => {
    const line = usersToCsv([row], "machineId").split("\r\n")[1]!;
    expect(line).toContain('"Alice ""the admin"", jr"');
    expect(line).toContain("'=cmd|' /C calc'!A0");
    expect(line).toContain(",5400.5,3,1800.1666,1.5");
  });
});
