import { describe, expect, it } from "vitest";
import {
  BEGINNING_OF_TIME,
  chooseInterval,
  DEFAULT_VIEW,
  displayedDays,
  parseViewState,
  resolveRange,
  serializeViewState,
} from "./viewState";

const NOW = new Date("2026-11-25T12:00:00Z");
const DAY = 24 * 3600 * 1000;

describe("URL state", () => {
  it("defaults to the current month grouped by machine ID", () => {
    expect(parseViewState("")).toEqual(DEFAULT_VIEW);
    expect(serializeViewState(DEFAULT_VIEW)).toBe("");
  });

  it("round-trips presets, custom ranges and primary keys", () => {
    const views = [
      { range: { kind: "preset", preset: "7d" }, primaryKey: "machineId" },
      { range: { kind: "preset", preset: "all" }, primaryKey: "clientHostname" },
      { range: { kind: "custom", fromDay: "2026-10-01", toDay: "2026-10-31" }, primaryKey: "kubernetesUsername" },
    ] as const;
    for (const view of views) expect(parseViewState(serializeViewState(view))).toEqual(view);
  });

  it("writes a custom range as days", () => {
    const search = serializeViewState({ range: { kind: "custom", fromDay: "2026-10-01", toDay: "2026-10-31" }, primaryKey: "clientUsername" });
    expect(search).toBe("?from=2026-10-01&to=2026-10-31&primaryKey=clientUsername");
  });

  it("never writes the license key and keeps unrelated parameters", () => {
    const search = serializeViewState({ range: { kind: "preset", preset: "30d" }, primaryKey: "machineId" }, "?key=secret&lang=en&range=7d");
    expect(search).toBe("?lang=en&range=30d");
  });

  it("ignores parameters it does not understand", () => {
    expect(parseViewState("?range=5y&primaryKey=email")).toEqual(DEFAULT_VIEW);
    expect(parseViewState("?from=2026-13-01&to=2026-10-31")).toEqual(DEFAULT_VIEW);
    expect(parseViewState("?from=2026-11-01&to=2026-10-31")).toEqual(DEFAULT_VIEW);
  });
});

describe("resolveRange", () => {
  it("starts this month on the first at midnight UTC and ends now", () => {
    expect(resolveRange({ kind: "preset", preset: "month" }, NOW)).toEqual({ from: new Date("2026-11-01T00:00:00Z"), to: NOW });
  });

  it("counts presets back from now", () => {
    expect(resolveRange({ kind: "preset", preset: "7d" }, NOW).from).toEqual(new Date(NOW.getTime() - 7 * DAY));
    expect(resolveRange({ kind: "preset", preset: "90d" }, NOW).from).toEqual(new Date(NOW.getTime() - 90 * DAY));
  });

  it("covers whole custom days, never past now", () => {
    expect(resolveRange({ kind: "custom", fromDay: "2026-10-01", toDay: "2026-10-31" }, NOW)).toEqual({
      from: new Date("2026-10-01T00:00:00Z"),
      to: new Date("2026-11-01T00:00:00Z"),
    });
    expect(resolveRange({ kind: "custom", fromDay: "2026-11-20", toDay: "2026-11-25" }, NOW).to).toEqual(NOW);
  });

  it("starts All at the day of the first session when known", () => {
    expect(resolveRange({ kind: "preset", preset: "all" }, NOW).from).toEqual(BEGINNING_OF_TIME);
    expect(resolveRange({ kind: "preset", preset: "all" }, NOW, "2025-03-04T05:06:07Z").from).toEqual(new Date("2025-03-04T00:00:00Z"));
  });

  it("shows the inclusive days of a range", () => {
    expect(displayedDays({ from: new Date("2026-10-01T00:00:00Z"), to: new Date("2026-11-01T00:00:00Z") })).toEqual({
      fromDay: "2026-10-01",
      toDay: "2026-10-31",
    });
    expect(displayedDays({ from: new Date("2026-11-01T00:00:00Z"), to: NOW })).toEqual({ fromDay: "2026-11-01", toDay: "2026-11-25" });
  });
});

describe("chooseInterval", () => {
  const range = (days: number) => ({ from: new Date(NOW.getTime() - days * DAY), to: NOW });
  it.each([
    [7, "day"],
    [90, "day"],
    [92, "day"],
    [93, "week"],
    [365, "week"],
    [367, "month"],
    [3000, "month"],
  ] as const)("uses %d days -> %s", (days, interval) => {
    expect(chooseInterval(range(days))).toBe(interval);
  });
});
