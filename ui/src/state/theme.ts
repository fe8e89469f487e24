// Light or dark: follows the system until the viewer picks one, which is then remembered.

export type Theme = "light" | "dark";

const STORAGE_KEY = "mirrord-usage.theme";

export function storedTheme(storage: Storage = localStorage): Theme | null {
  const value = storage.getItem(STORAGE_KEY);
  return value === "light" || value === "dark" ? value : null;
}

export function storeTheme(theme: Theme, storage: Storage = localStorage): void {
  storage.setItem(STORAGE_KEY, theme);
}

export function systemTheme(): Theme {
  return typeof window !== "undefined" && window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
  document.documentElement.style.colorScheme = theme;
}
