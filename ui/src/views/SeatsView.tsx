// Seats: machines using mirrord against the seats bought, and the machines that stopped using
// it (the seats an admin can reclaim). Seats are counted by machine, whatever the primary key.

import { useEffect, useId, useMemo, useState } from "react";
import type { ApiClient, ApiError, ReportFormat } from "../api/client";
import type { UsageReport, UsageTrends, UserMetric } from "../api/types";
import { SeatsChart } from "../charts/SeatsChart";
import { EMPTY, formatCount, formatDateTime } from "../format";
import { saveBlob } from "../state/download";
import { DEFAULT_INACTIVE_DAYS, idleDays, inactiveSeats, MAX_INACTIVE_DAYS, parseInactiveDays } from "../state/seats";
import type { Theme } from "../state/theme";
import { useLoad } from "../state/useLoad";
import { BEGINNING_OF_TIME, chooseInterval, toDay, type TimeRange } from "../state/viewState";
import { PAGE_SIZE, pageCount, pageOf } from "../state/userTable";
import { LoadGate, Skeleton } from "../components/LoadGate";
import { MetricCard } from "../components/MetricCard";
import { Pagination } from "../components/Pagination";
import { Section } from "../components/Section";
import { UserMetricsOmitted } from "../components/UsageAnalytics";
import { TableScroll } from "../components/TableScroll";

/** The inactive-seat cut-off in the URL (`?inactiveDays=60`), default 30. */
export function readInactiveDays(search: string): number {
  return parseInactiveDays(new URLSearchParams(search).get("inactiveDays")) ?? DEFAULT_INACTIVE_DAYS;
}

interface SeatsViewProps {
  client: ApiClient;
  range: TimeRange;
  now: Date;
  licenses: number | null;
  inactiveDays: number;
  onInactiveDays: (days: number) => void;
  onUnauthorized: (error: ApiError) => void;
  theme: Theme;
  onReady: (ready: boolean) => void;
}

export function SeatsView({ client, range, now, licenses, inactiveDays, onInactiveDays, onUnauthorized, theme, onReady }: SeatsViewProps) {
  const interval = chooseInterval(range);
  const [usage, retryUsage] = useLoad<UsageTrends>(
    (signal) => client.trends({ ...range, primaryKey: "machineId", interval }, signal),
    onUnauthorized,
    `${range.from.getTime()}-${range.to.getTime()}-${interval}`,
  );
  // Every machine ever seen, with its last session: who has gone quiet is an all-time question.
  const [machines, retryMachines] = useLoad<UsageReport>(
    (signal) => client.usageReport({ from: BEGINNING_OF_TIME, to: now, primaryKey: "machineId" }, signal),
    onUnauthorized,
    `${now.getTime()}`,
  );
  const ready = usage.data !== null && !usage.loading && machines.data !== null && !machines.loading;
  useEffect(() => onReady(ready || Boolean(usage.error || machines.error)), [ready, usage.error, machines.error, onReady]);

  return (
    <>
      <Section title="Seats used" testId="section-seats-used" busy={usage.loading}>
        <LoadGate state={usage} onRetry={retryUsage} skeleton={<Skeleton height={260} />}>
          {(trends) => <SeatsUsed trends={trends} licenses={licenses} theme={theme} />}
        </LoadGate>
      </Section>
      <Section title="Inactive seats" testId="section-inactive-seats" busy={machines.loading}>
        <LoadGate state={machines} onRetry={retryMachines} skeleton={<Skeleton height={40} count={6} />}>
          {(report) =>
            report.userMetrics ? (
              <InactiveSeats
                client={client}
                machines={report.userMetrics}
                now={now}
                days={inactiveDays}
                onDays={onInactiveDays}
                onUnauthorized={onUnauthorized}
              />
            ) : (
              <UserMetricsOmitted reason={report.userMetricsOmitted ?? "not available to you."} />
            )
          }
        </LoadGate>
      </Section>
    </>
  );
}

function SeatsUsed({ trends, licenses, theme }: { trends: UsageTrends; licenses: number | null; theme: Theme }) {
  const peak = trends.buckets.reduce((max, b) => Math.max(max, b.activeUsers), 0);
  const over = licenses == null ? null : trends.buckets.filter((b) => b.activeUsers > licenses).length;
  return (
    <>
      <div className="metric-grid compact">
        <MetricCard id="seats-bought" label="Seats bought" text={licenses == null ? EMPTY : formatCount(licenses)} value={licenses} />
        <MetricCard id="seats-peak" label={`Most machines in a ${trends.interval}`} text={formatCount(peak)} value={peak} />
        <MetricCard
          id="seats-over"
          label={`${trends.interval === "day" ? "Days" : trends.interval === "week" ? "Weeks" : "Months"} over the cap`}
          text={over == null ? EMPTY : formatCount(over)}
          value={over}
          hint={licenses == null ? "No seat count configured (--licenses)" : undefined}
        />
      </div>
      <div className="card chart-card">
        <h3>Machines with a user session per {trends.interval}</h3>
        {licenses != null && <p className="small muted">Bars above the dashed line of seats bought are {trends.interval}s over the cap.</p>}
        <SeatsChart buckets={trends.buckets} interval={trends.interval} licenses={licenses} theme={theme} />
      </div>
    </>
  );
}

interface InactiveSeatsProps {
  client: ApiClient;
  machines: readonly UserMetric[];
  now: Date;
  days: number;
  onDays: (days: number) => void;
  onUnauthorized: (error: ApiError) => void;
}

function InactiveSeats({ client, machines, now, days, onDays, onUnauthorized }: InactiveSeatsProps) {
  const [downloading, setDownloading] = useState<ReportFormat | null>(null);
  const [downloadError, setDownloadError] = useState<string | null>(null);
  const inputId = useId();
  const [draft, setDraft] = useState(String(days));
  const [page, setPage] = useState(1);
  useEffect(() => setDraft(String(days)), [days]);
  const rows = useMemo(() => inactiveSeats(machines, now, days), [machines, now, days]);
  useEffect(() => setPage(1), [rows]);
  const current = Math.min(page, pageCount(rows.length));
  const invalid = parseInactiveDays(draft) === null;

  // The server writes both files: the same machines, from the same all-time report.
  async function download(format: ReportFormat) {
    setDownloading(format);
    setDownloadError(null);
    try {
      const file = await client.downloadReport({ from: BEGINNING_OF_TIME, to: now, primaryKey: "machineId", inactiveDays: days }, format);
      saveBlob(file.blob, `mirrord-usage-inactive-seats-${days}d-${toDay(now)}.${format}`);
    } catch (error) {
      const apiError = error as ApiError;
      if (apiError.kind === "unauthorized") onUnauthorized(apiError);
      else setDownloadError(apiError.message);
    } finally {
      setDownloading(null);
    }
  }

  return (
    <>
      <form
        className="table-toolbar"
        onSubmit={(event) => {
          event.preventDefault();
          const parsed = parseInactiveDays(draft);
          if (parsed !== null) onDays(parsed);
        }}
      >
        <div className="field inline">
          <label htmlFor={inputId}>Days without a session</label>
          <input
            id={inputId}
            className="narrow"
            inputMode="numeric"
            value={draft}
            aria-invalid={invalid}
            aria-describedby={invalid ? `${inputId}-error` : undefined}
            onChange={(event) => setDraft(event.target.value)}
            data-testid="inactive-days"
          />
        </div>
        <button type="submit" className="button" disabled={invalid} data-testid="inactive-days-apply">
          Apply
        </button>
        <button
          type="button"
          className="button"
          onClick={() => download("csv")}
          disabled={rows.length === 0 || downloading !== null}
          aria-busy={downloading === "csv"}
          data-testid="inactive-csv"
        >
          {downloading === "csv" ? "Preparing…" : "Download CSV"}
        </button>
        <button
          type="button"
          className="button"
          onClick={() => download("xlsx")}
          disabled={rows.length === 0 || downloading !== null}
          aria-busy={downloading === "xlsx"}
          data-testid="inactive-xlsx"
        >
          {downloading === "xlsx" ? "Preparing…" : "Download XLSX"}
        </button>
        {invalid && (
          <span id={`${inputId}-error`} className="field-error" role="alert">
            Enter whole days from 1 to {formatCount(MAX_INACTIVE_DAYS)}.
          </span>
        )}
      </form>
      {downloadError && (
        <div className="notice error" role="alert" data-testid="inactive-download-error">
          The download failed: {downloadError}
        </div>
      )}
      <p className="small muted" data-testid="inactive-summary" data-count={rows.length} data-machines={machines.length}>
        {formatCount(rows.length)} of {formatCount(machines.length)} machines had no session in the last {formatCount(days)} days.
      </p>
      <TableScroll label="Inactive seats">
        <table className="data-table" data-testid="inactive-table" data-rows={rows.length}>
          <caption className="visually-hidden">Machines without a session for {days} days, longest idle first</caption>
          <thead>
            <tr>
              <th scope="col">Machine ID</th>
              <th scope="col">Kubernetes user</th>
              <th scope="col">Client user</th>
              <th scope="col">Hostname</th>
              <th scope="col">Last session</th>
              <th scope="col" className="numeric">
                Days idle
              </th>
            </tr>
          </thead>
          <tbody>
            {pageOf(rows, current).map((row) => (
              <tr key={row.id ?? ""} data-testid="inactive-row" data-id={row.id ?? ""}>
                <th scope="row" className="mono">
                  {row.id ?? EMPTY}
                </th>
                <td>{row.kubernetesUsername ?? EMPTY}</td>
                <td>{row.clientUsername ?? EMPTY}</td>
                <td>{row.clientHostname ?? EMPTY}</td>
                <td>{formatDateTime(row.lastSession)}</td>
                <td className="numeric">{formatCount(idleDays(row.lastSession, now))}</td>
              </tr>
            ))}
            {rows.length === 0 && (
              <tr>
                <td colSpan={6} className="empty-row">
                  Every machine had a session in the last {formatCount(days)} days.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </TableScroll>
      {rows.length > PAGE_SIZE && (
        <Pagination page={current} total={rows.length} pageSize={PAGE_SIZE} onPage={setPage} label="Inactive seat pages" testId="inactive-pagination" />
      )}
    </>
  );
}
