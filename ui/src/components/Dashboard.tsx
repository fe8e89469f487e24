// The dashboard page: loads the data for the current view and lays out every section.

import { useCallback, useEffect, useState } from "react";
import type { ApiClient, ApiError } from "../api/client";
import type { PrimaryKey, UserMetric } from "../api/types";
import type { ActivityMetric } from "../charts/TopUsersChart";
import { loadRoi, saveRoi, type RoiSettings } from "../state/roi";
import { saveBlob, usersToCsv } from "../state/csv";
import type { Theme } from "../state/theme";
import { useDashboardData } from "../state/useDashboardData";
import { displayedDays, parseViewState, serializeViewState, type RangeChoice, type ViewState } from "../state/viewState";
import { ClusterInfo } from "./ClusterInfo";
import { Forbidden, LoadGate, Skeleton } from "./LoadGate";
import { NoSessionsYet } from "./NoSessionsYet";
import { RoiModal } from "./RoiModal";
import { Section } from "./Section";
import { Targets } from "./Targets";
import { ThemeToggle } from "./ThemeToggle";
import { Timeframe } from "./Timeframe";
import { UsageAnalytics, UserMetricsOmitted } from "./UsageAnalytics";
import { UsageMetrics } from "./UsageMetrics";
import { UserActivity } from "./UserActivity";

interface DashboardProps {
  client: ApiClient;
  theme: Theme;
  onToggleTheme: () => void;
  onUnauthorized: (error: ApiError) => void;
  /** Absent when the viewer did not sign in to the dashboard (behind kube-apiserver). */
  onSignOut?: () => void;
}

interface ViewAt {
  view: ViewState;
  /** The instant relative ranges ("last 7 days", "this month") end at. */
  now: Date;
}

export function Dashboard({ client, theme, onToggleTheme, onUnauthorized, onSignOut }: DashboardProps) {
  const [{ view, now }, setViewAt] = useState<ViewAt>(() => ({ view: parseViewState(window.location.search), now: new Date() }));
  const [roi, setRoi] = useState<RoiSettings>(() => loadRoi());
  const [roiOpen, setRoiOpen] = useState(false);
  const [metric, setMetric] = useState<ActivityMetric>("time");
  const [xlsxBusy, setXlsxBusy] = useState(false);
  const [downloadError, setDownloadError] = useState<ApiError | null>(null);

  // Keep the view in the address so it can be shared; replace, not push, to keep Back useful.
  useEffect(() => {
    const search = serializeViewState(view, window.location.search);
    if (search !== window.location.search) {
      window.history.replaceState(window.history.state, "", `${window.location.pathname}${search}${window.location.hash}`);
    }
  }, [view]);

  const changeView = useCallback((next: ViewState) => setViewAt({ view: next, now: new Date() }), []);
  const onRefresh = useCallback(() => setViewAt((current) => ({ ...current, now: new Date() })), []);
  const data = useDashboardData(client, view, now, onRefresh, onUnauthorized);
  const { report, trends } = data;

  const ready =
    report.data !== null && !report.loading && !report.error && trends.data !== null && !trends.loading && !trends.error;
  const noSessionsYet =
    report.data !== null && report.data.allTimeMetrics.totalSessionCount + report.data.allTimeMetrics.totalCiSessionCount === 0;

  const changeRange = (range: RangeChoice) => changeView({ ...view, range });
  const changePrimaryKey = (primaryKey: PrimaryKey) => changeView({ ...view, primaryKey });

  function downloadCsv(rows: readonly UserMetric[]) {
    const { fromDay, toDay } = displayedDays(data.shownRange);
    saveBlob(new Blob([usersToCsv(rows, view.primaryKey)], { type: "text/csv;charset=utf-8" }), `mirrord-usage-users-${fromDay}-to-${toDay}.csv`);
  }

  async function downloadXlsx() {
    setXlsxBusy(true);
    setDownloadError(null);
    try {
      const file = await client.downloadReport({ ...data.reportRange, primaryKey: view.primaryKey }, "xlsx");
      saveBlob(file.blob, file.filename);
    } catch (error) {
      const apiError = error as ApiError;
      if (apiError.kind === "unauthorized") onUnauthorized(apiError);
      else setDownloadError(apiError);
    } finally {
      setXlsxBusy(false);
    }
  }

  function saveRoiSettings(settings: RoiSettings) {
    saveRoi(settings);
    setRoi(settings);
    setRoiOpen(false);
  }

  return (
    <div className="app" data-testid="app" data-ready={ready ? "true" : "false"}>
      <header className="app-header">
        <div className="brand">
          <span className="logo" aria-hidden="true" />
          <h1>mirrord usage</h1>
        </div>
        <ClusterInfo general={report.data?.generalMetrics ?? null} />
        <div className="header-actions">
          <ThemeToggle theme={theme} onToggle={onToggleTheme} />
          {onSignOut && (
            <button type="button" className="button" onClick={onSignOut} data-testid="sign-out">
              Sign out
            </button>
          )}
        </div>
      </header>

      <main className="content">
        {noSessionsYet && <NoSessionsYet />}

        <Section
          title="All-time usage"
          testId="section-usage-metrics"
          busy={report.loading}
          actions={
            <button type="button" className="button" onClick={() => setRoiOpen(true)} disabled={!report.data} data-testid="adjust-calculation">
              Adjust calculation
            </button>
          }
        >
          <LoadGate state={report} onRetry={data.retryReport} skeleton={<Skeleton height={104} count={8} />}>
            {(loaded) => <UsageMetrics report={loaded} roi={roi} />}
          </LoadGate>
        </Section>

        <Section title="Timeframe" testId="section-timeframe">
          <Timeframe
            choice={view.range}
            range={data.shownRange}
            now={now}
            lastUpdated={data.lastUpdated}
            loading={report.loading || trends.loading}
            onChange={changeRange}
            onRefresh={data.refresh}
          />
        </Section>

        <Section title="Usage analytics" testId="section-usage-analytics" busy={report.loading || trends.loading}>
          <UsageAnalytics
            report={report}
            trends={trends}
            primaryKey={view.primaryKey}
            metric={metric}
            onMetric={setMetric}
            theme={theme}
            onRetryReport={data.retryReport}
            onRetryTrends={data.retryTrends}
          />
        </Section>

        <Section title="User activity" testId="section-user-activity" busy={report.loading}>
          {downloadError && (
            <div className="notice error" role="alert" data-testid="download-error">
              {downloadError.kind === "forbidden" ? <Forbidden error={downloadError} /> : `The download failed: ${downloadError.message}`}
            </div>
          )}
          <LoadGate state={report} onRetry={data.retryReport} skeleton={<Skeleton height={40} count={6} />}>
            {(loaded) =>
              loaded.userMetrics ? (
                <UserActivity
                  users={loaded.userMetrics}
                  primaryKey={view.primaryKey}
                  onPrimaryKey={changePrimaryKey}
                  onCsv={downloadCsv}
                  onXlsx={downloadXlsx}
                  xlsxBusy={xlsxBusy}
                />
              ) : (
                <UserMetricsOmitted reason={loaded.userMetricsOmitted ?? "not available to you."} />
              )
            }
          </LoadGate>
        </Section>

        <Section title="Targets" testId="section-targets" busy={report.loading}>
          <LoadGate state={report} onRetry={data.retryReport} skeleton={<Skeleton height={220} />}>
            {(loaded) => <Targets targets={loaded.targetMetrics} theme={theme} />}
          </LoadGate>
        </Section>
      </main>

      {roiOpen && report.data && (
        <RoiModal
          userSessions={report.data.allTimeMetrics.totalSessionCount}
          ciSessions={report.data.allTimeMetrics.totalCiSessionCount}
          settings={roi}
          onSave={saveRoiSettings}
          onClose={() => setRoiOpen(false)}
        />
      )}
    </div>
  );
}

