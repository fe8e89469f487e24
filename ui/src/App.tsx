// Decides between the sign-in form and the dashboard, and owns the theme. Behind kube-apiserver
// there is no sign-in: the proxy in front of the page has already authenticated the viewer.

import { useCallback, useEffect, useMemo, useState } from "react";
import { createApiClient, detectApiMode, type ApiError } from "./api/client";
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
  const [{ mode, base }] = useState(() => detectApiMode(document.baseURI));
  const [credentials, setCredentials] = useState<Credentials | null>(() => (mode.signIn ? (takeKeyFromUrl() ?? loadCredentials()) : null));
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

  const client = useMemo(
    () => (mode.signIn && !credentials ? null : createApiClient({ mode, base, credentials })),
    [mode, base, credentials],
  );

  const onUnauthorized = useCallback((error: ApiError) => {
    // Without a sign-in form there is nothing to ask for; the sections say what Kubernetes answered.
    if (!mode.signIn) return;
    clearCredentials();
    setCredentials(null);
    setSignInMessage(
      `The server did not accept these credentials (HTTP 401: ${error.message}). Sign in with a valid license key or bearer token.`,
    );
  }, [mode]);

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

  if (!client) {
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
      client={client}
      theme={theme}
      onToggleTheme={toggleTheme}
      onUnauthorized={onUnauthorized}
      onSignOut={mode.signIn ? signOut : undefined}
    />
  );
}
