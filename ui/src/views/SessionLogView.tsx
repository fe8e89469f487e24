// The session log: every session in the range, newest first, a page at a time, with filters;
// the same list as `kubectl get mirrordsessions`. Listing it needs the auditor role.

import { useEffect, useId, useState } from "react";
import type { ApiClient, ApiError } from "../api/client";
import type { MirrordSession, SessionList } from "../api/types";
import { EMPTY, formatCount, formatDateTime, formatDurationShort } from "../format";
import { LOG_PAGE_SIZE, withLogFilters, type LogFilters } from "../state/sessionLog";
import { useLoad } from "../state/useLoad";
import type { TimeRange } from "../state/viewState";
import { Forbidden, LoadGate, Skeleton } from "../components/LoadGate";
import { Section } from "../components/Section";
import { TableScroll } from "../components/TableScroll";

export const AUDITOR_ROLE = "mirrord-usage-auditor";

interface SessionLogViewProps {
  client: ApiClient;
  range: TimeRange;
  filters: LogFilters;
  onFilters: (filters: LogFilters) => void;
  onUnauthorized: (error: ApiError) => void;
  onReady: (ready: boolean) => void;
}

function who(session: MirrordSession): string {
  return session.kubernetesUsername ?? session.clientUsername ?? session.machineId ?? EMPTY;
}

function ciLabel(session: MirrordSession): string {
  if (!session.ci) return EMPTY;
  return [session.ci.provider, session.ci.pipeline, session.ci.environment].filter(Boolean).join(" / ") || "CI";
}

function FilterForm({ filters, onApply }: { filters: LogFilters; onApply: (filters: LogFilters) => void }) {
  const id = useId();
  const [draft, setDraft] = useState(filters);
  return (
    <form
      className="table-toolbar"
      data-testid="log-filters"
      onSubmit={(event) => {
        event.preventDefault();
        onApply(draft);
      }}
    >
      <div className="field inline">
        <label htmlFor={`${id}-user`}>User</label>
        <input id={`${id}-user`} value={draft.user} placeholder="Exact user or machine ID" onChange={(e) => setDraft({ ...draft, user: e.target.value })} data-testid="log-user" />
      </div>
      <div className="field inline">
        <label htmlFor={`${id}-namespace`}>Namespace</label>
        <input id={`${id}-namespace`} value={draft.namespace} onChange={(e) => setDraft({ ...draft, namespace: e.target.value })} data-testid="log-namespace" />
      </div>
      <div className="field inline">
        <label htmlFor={`${id}-ci`}>Sessions</label>
        <select
          id={`${id}-ci`}
          value={draft.ci === null ? "all" : draft.ci ? "ci" : "users"}
          onChange={(e) => setDraft({ ...draft, ci: e.target.value === "all" ? null : e.target.value === "ci" })}
          data-testid="log-ci"
        >
          <option value="all">All</option>
          <option value="users">User sessions</option>
          <option value="ci">CI sessions</option>
        </select>
      </div>
      <div className="field inline">
        <label htmlFor={`${id}-close-reason`}>Closed as</label>
        <input
          id={`${id}-close-reason`}
          value={draft.closeReason}
          placeholder="e.g. Unused"
          onChange={(e) => setDraft({ ...draft, closeReason: e.target.value })}
          data-testid="log-close-reason"
        />
      </div>
      <button type="submit" className="button" data-testid="log-apply">
        Apply
      </button>
    </form>
  );
}

export function SessionLogView({ client, range, filters, onFilters, onUnauthorized, onReady }: SessionLogViewProps) {
  // Tokens of the pages seen so far: page n is asked for with tokens[n - 1].
  const [tokens, setTokens] = useState<Array<string | undefined>>([undefined]);
  const page = tokens.length;
  const key = `${range.from.getTime()}-${range.to.getTime()}-${withLogFilters("", filters)}`;
  const [lastKey, setLastKey] = useState(key);
  if (key !== lastKey) {
    setLastKey(key);
    setTokens([undefined]);
  }
  const [list, retry] = useLoad<SessionList>(
    (signal) =>
      client.sessions(
        {
          ...range,
          user: filters.user || undefined,
          namespace: filters.namespace || undefined,
          ci: filters.ci ?? undefined,
          closeReason: filters.closeReason || undefined,
          limit: LOG_PAGE_SIZE,
          continueToken: tokens.at(-1),
        },
        signal,
      ),
    onUnauthorized,
    `${key}-${page}-${tokens.at(-1) ?? ""}`,
  );

  useEffect(() => onReady(!list.loading), [list.loading, onReady]);

  if (list.error?.kind === "forbidden") {
    return (
      <Section title="Session log" testId="section-session-log">
        <div className="notice warning" role="status" data-testid="log-forbidden">
          <p>The session log needs the {AUDITOR_ROLE} role: ask your cluster admin for it.</p>
          {list.error.fromKubernetes && <Forbidden error={list.error} />}
        </div>
      </Section>
    );
  }

  return (
    <Section title="Session log" testId="section-session-log" busy={list.loading}>
      <FilterForm key={withLogFilters("", filters)} filters={filters} onApply={onFilters} />
      <LoadGate state={list} onRetry={retry} skeleton={<Skeleton height={40} count={8} />}>
        {(loaded) => (
          <>
            <TableScroll label="Sessions">
              <table className="data-table" data-testid="log-table" data-rows={loaded.items.length} data-page={page}>
                <caption className="visually-hidden">Sessions in the range, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Start</th>
                    <th scope="col">End</th>
                    <th scope="col" className="numeric">
                      Duration
                    </th>
                    <th scope="col">User</th>
                    <th scope="col">Namespace</th>
                    <th scope="col">Target</th>
                    <th scope="col">CI</th>
                    <th scope="col">Closed as</th>
                  </tr>
                </thead>
                <tbody>
                  {loaded.items.map((session) => (
                    <tr key={session.sessionId} data-testid="log-row" data-id={session.sessionId}>
                      <td>{formatDateTime(session.start)}</td>
                      <td>{session.running ? <span className="badge">running</span> : formatDateTime(session.end)}</td>
                      <td className="numeric">{formatDurationShort(session.durationSeconds)}</td>
                      <th scope="row" title={session.machineId ?? undefined}>
                        {who(session)}
                      </th>
                      <td>{session.namespace ?? EMPTY}</td>
                      <td className="mono">{session.target ? `${session.target.kind}/${session.target.name}` : "targetless"}</td>
                      <td>{ciLabel(session)}</td>
                      <td>{session.closeReason ?? EMPTY}</td>
                    </tr>
                  ))}
                  {loaded.items.length === 0 && (
                    <tr>
                      <td colSpan={8} className="empty-row">
                        No sessions match.
                      </td>
                    </tr>
                  )}
                </tbody>
              </table>
            </TableScroll>
            <nav className="pagination" aria-label="Session log pages" data-testid="log-pagination">
              <button type="button" className="button" disabled={page === 1} onClick={() => setTokens(tokens.slice(0, -1))} data-testid="log-previous">
                Previous
              </button>
              <span className="pagination-status" aria-live="polite">
                Page {formatCount(page)}
              </span>
              <button
                type="button"
                className="button"
                disabled={!loaded.metadata.continue}
                onClick={() => setTokens([...tokens, loaded.metadata.continue ?? undefined])}
                data-testid="log-next"
              >
                Next
              </button>
            </nav>
          </>
        )}
      </LoadGate>
    </Section>
  );
}
