import { beforeEach, describe, expect, it } from "vitest";
import { authHeaders, clearCredentials, loadCredentials, saveCredentials, takeKeyFromUrl } from "./credentials";

describe("credentials", () => {
  beforeEach(() => {
    sessionStorage.clear();
    window.history.replaceState(null, "", "/");
  });

  it("builds the header for each kind", () => {
    expect(authHeaders({ kind: "licenseKey", value: "abc" })).toEqual({ "x-license-key": "abc" });
    expect(authHeaders({ kind: "bearerToken", value: "tok" })).toEqual({ Authorization: "Bearer tok" });
  });

  it("takes the key from the URL, stores it and removes it from the address", () => {
    window.history.replaceState(null, "", "/?range=7d&key=secret-key#top");
    const credentials = takeKeyFromUrl();
    expect(credentials).toEqual({ kind: "licenseKey", value: "secret-key" });
    expect(window.location.search).toBe("?range=7d");
    expect(window.location.hash).toBe("#top");
    expect(window.location.href).not.toContain("secret-key");
    expect(loadCredentials()).toEqual(credentials);
  });

  it("does nothing without a key parameter", () => {
    window.history.replaceState(null, "", "/?range=7d");
    expect(takeKeyFromUrl()).toBeNull();
    expect(window.location.search).toBe("?range=7d");
  });

  it("keeps credentials in sessionStorage until cleared", () => {
    saveCredentials({ kind: "bearerToken", value: "t" });
    expect(loadCredentials()).toEqual({ kind: "bearerToken", value: "t" });
    expect(localStorage.getItem("mirrord-usage.credentials")).toBeNull();
    clearCredentials();
    expect(loadCredentials()).toBeNull();
  });

  it("treats a corrupt entry as signed out", () => {
    sessionStorage.setItem("mirrord-usage.credentials", "{oops");
    expect(loadCredentials()).toBeNull();
  });
});
