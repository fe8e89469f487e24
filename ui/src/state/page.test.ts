import { describe, expect, it } from "vitest";
import { parsePage, withPage } from "./page";

describe("the open view in the URL", () => {
  it("defaults to the overview and ignores unknown views", () => {
    expect(parsePage("")).toBe("overview");
    expect(parsePage("?view=nonsense")).toBe("overview");
    expect(parsePage("?range=7d&view=seats")).toBe("seats");
  });

  it("keeps the other parameters and leaves the overview out", () => {
    expect(withPage("?range=7d", "users")).toBe("?range=7d&view=users");
    expect(withPage("?range=7d&view=users", "overview")).toBe("?range=7d");
    expect(withPage("", "overview")).toBe("");
  });
});
