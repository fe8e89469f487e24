// Shows a section's data once loaded, a skeleton while it loads, and what went wrong otherwise.

import type { ReactNode } from "react";
import type { ApiError } from "../api/client";
import type { Loadable } from "../state/useDashboardData";

export const FORBIDDEN_MESSAGE =
  "You are not allowed to see this (ask your cluster admin for the mirrord-usage-viewer role)";

interface ErrorNoticeProps {
  error: ApiError;
  onRetry: () => void;
}

export function ErrorNotice({ error, onRetry }: ErrorNoticeProps) {
  switch (error.kind) {
    case "forbidden":
      return (
        <div className="notice warning" role="status" data-testid="error-forbidden">
          {FORBIDDEN_MESSAGE}
        </div>
      );
    case "unauthorized":
      return (
        <div className="notice" role="status">
          Your sign-in was not accepted. Sign in again to continue.
        </div>
      );
    case "unreachable":
      return (
        <div className="notice error" role="alert" data-testid="error-unreachable">
          <p>
            <strong>Server unreachable.</strong> Check that mirrord-usage is running and that your connection to it (port-forward,
            proxy or ingress) is up, then retry.
          </p>
          <button type="button" className="button" onClick={onRetry} data-testid="retry">
            Retry
          </button>
        </div>
      );
    case "failed":
      return (
        <div className="notice error" role="alert" data-testid="error-failed">
          <p>
            <strong>This section could not be loaded.</strong> {error.message}
            {error.code ? ` (${error.code})` : ""} Retry; if it keeps failing, the server log says why.
          </p>
          <button type="button" className="button" onClick={onRetry} data-testid="retry">
            Retry
          </button>
        </div>
      );
  }
}

interface LoadGateProps<T> {
  state: Loadable<T>;
  onRetry: () => void;
  skeleton: ReactNode;
  children: (data: T) => ReactNode;
}

export function LoadGate<T>({ state, onRetry, skeleton, children }: LoadGateProps<T>) {
  if (state.error) return <ErrorNotice error={state.error} onRetry={onRetry} />;
  if (state.data === null) return <>{skeleton}</>;
  return <>{children(state.data)}</>;
}

export function Skeleton({ height = 96, count = 1 }: { height?: number; count?: number }) {
  return (
    <div className="skeleton-group" aria-hidden="true">
      {Array.from({ length: count }, (_, i) => (
        <div key={i} className="skeleton" style={{ height }} />
      ))}
    </div>
  );
}

export function LoadingLabel() {
  return (
    <span className="visually-hidden" role="status">
      Loading…
    </span>
  );
}
