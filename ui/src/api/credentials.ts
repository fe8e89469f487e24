// How the viewer proves who they are: a license key (standalone and demo mode) or a bearer
// token. Kept in sessionStorage so closing the tab forgets it, and never left in the URL.

export type Credentials =
  | { kind: "licenseKey"; value: string }
  | { kind: "bearerToken"; value: string };

const STORAGE_KEY = "mirrord-usage.credentials";
const URL_PARAM = "key";

export function authHeaders(credentials: Credentials): Record<string, string> {
  switch (credentials.kind) {
    case "licenseKey":
      return { "x-license-key": credentials.value };
    case "bearerToken":
      return { Authorization: `Bearer ${credentials.value}` };
  }
}

export function loadCredentials(storage: Storage = sessionStorage): Credentials | null {
  const raw = storage.getItem(STORAGE_KEY);
  if (!raw) return null;
  try {
    const parsed = JSON.parse(raw) as Partial<Credentials>;
    if ((parsed.kind === "licenseKey" || parsed.kind === "bearerToken") && typeof parsed.value === "string" && parsed.value) {
      return { kind: parsed.kind, value: parsed.value };
    }
  } catch {
    // A corrupt entry is treated as signed out.
  }
  storage.removeItem(STORAGE_KEY);
  return null;
}

export function saveCredentials(credentials: Credentials, storage: Storage = sessionStorage): void {
  storage.setItem(STORAGE_KEY, JSON.stringify(credentials));
}

export function clearCredentials(storage: Storage = sessionStorage): void {
  storage.removeItem(STORAGE_KEY);
}

/**
 * Takes a license key from `?key=` (links handed out in demo mode), stores it, and removes it
 * from the visible URL so it does not end up in bookmarks, screenshots or shared links.
 */
export function takeKeyFromUrl(
  location: Pick<Location, "href"> = window.location,
  history: Pick<History, "replaceState" | "state"> = window.history,
  storage: Storage = sessionStorage,
): Credentials | null {
  const url = new URL(location.href);
  const key = url.searchParams.get(URL_PARAM);
  if (key === null) return null;
  url.searchParams.delete(URL_PARAM);
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
  const trimmed = key.trim();
  if (!trimmed) return null;
  const credentials: Credentials = { kind: "licenseKey", value: trimmed };
  saveCredentials(credentials, storage);
  return credentials;
}
