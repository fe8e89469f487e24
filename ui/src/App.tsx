// Decides between the sign-in form and the dashboard, and owns the theme.

import { useCallback, useEffect, useState } from "react";
import type { ApiError } from "./api/client";
import { clearCredentials, loadCredentials, saveCredentials, takeKeyFromUrl, type Credentials } from "./api/credentials";
import { Dashboard } from "./components/Dashboard";
import { SignIn } from "./components/SignIn";
import { ThemeToggle } from "./components/ThemeToggle";
import { applyChartDefaults, readPalette } from "./charts/Chart";
import { applyTheme, storedTheme, storeTheme, systemTheme, type Theme } from "./state/theme";

function switchTheme(theme: Theme): void {
  applyTheme(theme);
  applyChartDefaults(readPalette());
}

export function App() {
  const [credentials, setCredentials] = useState<Credentials | null>(() => takeKeyFromUrl() ?? loadCredentials());
  const [signInMessage, setSignInMessage] = useState<string | null>(null);
  const [theme, setTheme] = useState<Theme>(() => storedTheme() ?? systemTheme());

  // Until the viewer picks a theme, follow the system's.
  useEffect(() => {
    const query = window.matchMedia?.("(prefers-color-scheme: dark)");
    if (!query) return;
    const follow = () => {
      if (storedTheme()) return;
      const next = query.matches ? "dark" : "light";
      switchTheme(next);
      setTheme(next);
    };
    query.addEventListener("change", follow);
    return () => query.removeEventListener("change", follow);
  }, []);

  const toggleTheme = useCallback(() => {
    const next: Theme = theme === "dark" ? "light" : "dark";
    // Applied before the re-render so charts pick up the new colours as they redraw.
    switchTheme(next);
    storeTheme(next);
    setTheme(next);
  }, [theme]);

  const onUnauthorized = useCallback((error: ApiError) => {
    clearCredentials();
    setCredentials(null);
    setSignInMessage(
      `The server did not accept these credentials (HTTP 401: ${error.message}). Sign in with a valid license key or bearer token.`,
    );
  }, []);

  const signIn = useCallback((next: Credentials) => {
    saveCredentials(next);
    setSignInMessage(null);
    setCredentials(next);
  }, []);

  const signOut = useCallback(() => {
    clearCredentials();
    setSignInMessage(null);
    setCredentials(null);
  }, []);

  if (!credentials) {
    return (
      <div className="app" data-testid="app" data-ready="false">
        <header className="app-header">
          <div className="brand">
            <span className="logo" aria-hidden="true" />
            <span className="brand-name">mirrord usage</span>
          </div>
          <div className="header-actions">
            <ThemeToggle theme={theme} onToggle={toggleTheme} />
          </div>
        </header>
        <SignIn message={signInMessage} onSignIn={signIn} />
      </div>
    );
  }
  return (
    <Dashboard
      credentials={credentials}
      theme={theme}
      onToggleTheme={toggleTheme}
      onUnauthorized={onUnauthorized}
      onSignOut={signOut}
    />
  );
}
