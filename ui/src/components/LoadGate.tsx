// Shows a section's data once loaded, a skeleton while it loads, and what went wrong otherwise.

import type { ReactNode } from "react";
import type { ApiError } from "../api/client";
import type { Loadable } from "../state/useDashboardData";

/** The ClusterRoles the chart ships: reports and trends, and on top of that per-user rows. */
export const VIEWER_ROLE = "mirrord-usage-viewer";
export const ANALYST_ROLE = "mirrord-usage-analyst";

export const FORBIDDEN_MESSAGE = `You are not allowed to see this (ask your cluster admin for the ${VIEWER_ROLE} role)`;

/**
 * What a 403 says. A Kubernetes `Status` message names the user and the verb and resource
 * refused, which is what the cluster admin needs to grant, so it is shown as well.
 */
export function Forbidden({ error }: { error: ApiError }) {
  if (!error.fromKubernetes) return <>{FORBIDDEN_MESSAGE}</>;
  return (
    <>
      <p>{FORBIDDEN_MESSAGE}</p>
      <p className="small" data-testid="error-forbidden-detail">
        {error.message}
      </p>
    </>
  );
}

interface ErrorNoticeProps {
  error: ApiError;
  onRetry: () => void;
}

export function ErrorNotice({ error, onRetry }: ErrorNoticeProps) {
  switch (error.kind) {
    case "forbidden":
      return (
        <div className="notice warning" role="status" data-testid="error-forbidden">
          <Forbidden error={error} />
        </div>
      );
    case "unauthorized":
      // Behind kube-apiserver there is no sign-in form to go back to: the credentials are the
      // ones `kubectl proxy` (or whatever stands in front) sends.
      return error.fromKubernetes ? (
        <div className="notice error" role="alert" data-testid="error-unauthorized">
          <p>
            <strong>Kubernetes did not accept your credentials</strong> (HTTP 401: {error.message}).
          </p>
          <p>Check that kubectl proxy runs with a current kubeconfig (kubectl auth whoami says who you are), then reload.</p>
        </div>
      ) : (
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
