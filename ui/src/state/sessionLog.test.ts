import { describe, expect, it } from "vitest";
import { NO_FILTERS, parseLogFilters, withLogFilters } from "./sessionLog";

describe("session log filters in the URL", () => {
  it("round-trip, trimmed, with unknown CI values ignored", () => {
    const filters = { user: "alice", namespace: "shop", ci: false, closeReason: "Unused" };
    expect(parseLogFilters(withLogFilters("?view=log", filters))).toEqual(filters);
    expect(withLogFilters("?view=log", { user: " bob ", namespace: "", ci: true, closeReason: " " })).toBe("?view=log&user=bob&ci=true");
    expect(parseLogFilters("?ci=maybe")).toEqual(NO_FILTERS);
  });

  it("are dropped when leaving the log", () => {
    expect(withLogFilters("?view=users&user=alice&ci=true&closeReason=Unused&range=7d", null)).toBe("?view=users&range=7d");
  });
});
