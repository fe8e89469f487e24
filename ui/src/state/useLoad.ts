// One request a view makes on its own, reloaded when its key changes and on retry.

import { useEffect, useState } from "react";
import { ApiError } from "../api/client";
import type { Loadable } from "./useDashboardData";

const INITIAL: Loadable<never> = { data: null, loading: true, error: null };

export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, onUnauthorized: (error: ApiError) => void, key: string): [Loadable<T>, () => void] {
  const [state, setState] = useState<Loadable<T>>(INITIAL);
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    const abort = new AbortController();
    setState((previous) => ({ ...previous, loading: true, error: null }));
    load(abort.signal).then(
      (data) => setState({ data, loading: false, error: null }),
      (error: unknown) => {
        if (abort.signal.aborted) return;
        const apiError = error instanceof ApiError ? error : new ApiError("failed", String(error));
        if (apiError.kind === "unauthorized") onUnauthorized(apiError);
        setState((previous) => ({ ...previous, loading: false, error: apiError }));
      },
    );
    return () => abort.abort();
    // `key` stands for everything `load` depends on.
  }, [key, attempt]);
  return [state, () => setAttempt((n) => n + 1)];
}

