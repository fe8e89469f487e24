// The dashboard: the header, the navigation between views, and the open view with its data.

import { useCallback, useEffect, useState } from "react";
import type { ApiClient, ApiError, ReportFormat } from "../api/client";
import type { PrimaryKey, UserMetric } from "../api/types";
import type { ActivityMetric } from "../charts/TopUsersChart";
import { loadRoi, saveRoi, type RoiSettings } from "../state/roi";
import { saveBlob } from "../state/download";
import type { Theme } from "../state/theme";
import { useDashboardData } from "../state/useDashboardData";
import { periodLabel } from "../state/comparison";
import { PAGES, parsePage, withPage, type Page } from "../state/page";
import { DEFAULT_INACTIVE_DAYS } from "../state/seats";
import { parseLogFilters, withLogFilters, type LogFilters } from "../state/sessionLog";
import { parseViewState, serializeViewState, type RangeChoice, type ViewState } from "../state/viewState";
import { AdoptionView } from "../views/AdoptionView";
import { RoiView } from "../views/RoiView";
import { SessionLogView } from "../views/SessionLogView";
import { readInactiveDays, SeatsView } from "../views/SeatsView";
import { TargetsView } from "../views/TargetsView";
import { UsersView } from "../views/UsersView";
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
import { ViewNavigation } from "./ViewNavigation";

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
  const [downloading, setDownloading] = useState<ReportFormat | null>(null);
  const [downloadError, setDownloadError] = useState<ApiError | null>(null);
  const [page, setPage] = useState<Page>(() => parsePage(window.location.search));
  const [inactiveDays, setInactiveDays] = useState(() => readInactiveDays(window.location.search));
  const [logFilters, setLogFilters] = useState<LogFilters>(() => parseLogFilters(window.location.search));
  // Views that load data of their own say when it is in.
  const [viewReady, setViewReady] = useState(false);

  // Keep the range in the address so it can be shared; replace, not push, to keep Back useful.
  // Switching views pushes, so Back returns to the previous view.
  useEffect(() => {
    let search = withLogFilters(withPage(serializeViewState(view, window.location.search), page), page === "log" ? logFilters : null);
    const params = new URLSearchParams(search);
    params.delete("inactiveDays");
    if (page === "seats" && inactiveDays !== DEFAULT_INACTIVE_DAYS) params.set("inactiveDays", String(inactiveDays));
    search = params.toString() ? `?${params}` : "";
    if (search !== window.location.search) {
      const push = parsePage(window.location.search) !== page;
      const url = `${window.location.pathname}${search}${window.location.hash}`;
      if (push) window.history.pushState(window.history.state, "", url);
      else window.history.replaceState(window.history.state, "", url);
    }
  }, [view, page, inactiveDays, logFilters]);

  useEffect(() => {
    const follow = () => {
      setPage(parsePage(window.location.search));
      setViewReady(false);
      setInactiveDays(readInactiveDays(window.location.search));
      setLogFilters(parseLogFilters(window.location.search));
    };
    window.addEventListener("popstate", follow);
    return () => window.removeEventListener("popstate", follow);
  }, []);

  // Moving to another view puts focus on its heading, as a page load would.
  const navigate = useCallback((next: Page) => {
    setPage(next);
    setViewReady(false);
    requestAnimationFrame(() => document.getElementById("view-title")?.focus());
  }, []);

  const changeView = useCallback((next: ViewState) => setViewAt({ view: next, now: new Date() }), []);
  const onRefresh = useCallback(() => setViewAt((current) => ({ ...current, now: new Date() })), []);
  const data = useDashboardData(client, view, now, onRefresh, onUnauthorized);
  const { report, trends, previous } = data;

  const overviewReady =
    report.data !== null && !report.loading && !report.error && trends.data !== null && !trends.loading && !trends.error;
  const ownData: readonly Page[] = ["seats", "adoption", "log"];
  const ready = ownData.includes(page) ? overviewReady && viewReady : overviewReady;
  const noSessionsYet =
    report.data !== null && report.data.allTimeMetrics.totalSessionCount + report.data.allTimeMetrics.totalCiSessionCount === 0;

  const changeRange = (range: RangeChoice) => changeView({ ...view, range });
  const changePrimaryKey = (primaryKey: PrimaryKey) => changeView({ ...view, primaryKey });

  // The server writes both files, for the range and primary key the report shows.
  async function download(format: ReportFormat) {
    setDownloading(format);
    setDownloadError(null);
    try {
      const file = await client.downloadReport({ ...data.reportRange, primaryKey: view.primaryKey }, format);
      saveBlob(file.blob, file.filename);
    } catch (error) {
      const apiError = error as ApiError;
      if (apiError.kind === "unauthorized") onUnauthorized(apiError);
      else setDownloadError(apiError);
    } finally {
      setDownloading(null);
    }
  }

  const downloadNotice = downloadError && (
    <div className="notice error" role="alert" data-testid="download-error">
      {downloadError.kind === "forbidden" ? <Forbidden error={downloadError} /> : `The download failed: ${downloadError.message}`}
    </div>
  );

  const userTable = (users: UserMetric[]) => (
    <UserActivity
      users={users}
      primaryKey={view.primaryKey}
      onPrimaryKey={changePrimaryKey}
      onDownload={download}
      downloading={downloading}
    />
  );

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

      <ViewNavigation current={page} search={window.location.search} onNavigate={navigate} />

      <main className="content" data-testid={`view-${page}`}>
        <h2 id="view-title" className="visually-hidden" tabIndex={-1}>
          {PAGES.find((entry) => entry.page === page)?.label}
        </h2>
        {noSessionsYet && <NoSessionsYet />}

        {page === "overview" && (
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
        )}

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

        {page === "overview" && (
          <>
            <Section title="Usage analytics" testId="section-usage-analytics" busy={report.loading || trends.loading}>
              <UsageAnalytics
                report={report}
                previous={previous}
                comparisonLabel={periodLabel(data.reportRange)}
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
              {downloadNotice}
              <LoadGate state={report} onRetry={data.retryReport} skeleton={<Skeleton height={40} count={6} />}>
                {(loaded) => (loaded.userMetrics ? userTable(loaded.userMetrics) : <UserMetricsOmitted reason={loaded.userMetricsOmitted ?? "not available to you."} />)}
              </LoadGate>
            </Section>

            <Section title="Targets" testId="section-targets" busy={report.loading}>
              <LoadGate state={report} onRetry={data.retryReport} skeleton={<Skeleton height={220} />}>
                {(loaded) => <Targets targets={loaded.targetMetrics} theme={theme} />}
              </LoadGate>
            </Section>
          </>
        )}

        {page === "users" && (
          <Section title="Users" testId="section-users" busy={report.loading}>
            {downloadNotice}
            <LoadGate state={report} onRetry={data.retryReport} skeleton={<Skeleton height={300} count={2} />}>
              {(loaded) => <UsersView report={loaded} primaryKey={view.primaryKey} theme={theme} table={userTable} />}
            </LoadGate>
          </Section>
        )}

        {page === "targets" && (
          <Section title="Targets" testId="section-targets" busy={report.loading}>
            <LoadGate state={report} onRetry={data.retryReport} skeleton={<Skeleton height={300} count={2} />}>
              {(loaded) => <TargetsView targets={loaded.targetMetrics} theme={theme} />}
            </LoadGate>
          </Section>
        )}

        {page === "seats" && (
          <SeatsView
            client={client}
            range={data.shownRange}
            now={now}
            licenses={report.data?.generalMetrics.totalLicenses ?? null}
            inactiveDays={inactiveDays}
            onInactiveDays={setInactiveDays}
            onUnauthorized={onUnauthorized}
            theme={theme}
            onReady={setViewReady}
          />
        )}

        {page === "adoption" && report.data && (
          <AdoptionView
            client={client}
            report={report.data}
            range={data.shownRange}
            now={now}
            primaryKey={view.primaryKey}
            onUnauthorized={onUnauthorized}
            theme={theme}
            onReady={setViewReady}
          />
        )}
        {page === "log" && (
          <SessionLogView
            client={client}
            range={data.shownRange}
            filters={logFilters}
            onFilters={setLogFilters}
            onUnauthorized={onUnauthorized}
            onReady={setViewReady}
          />
        )}

        {page === "roi" && (
          <LoadGate state={report} onRetry={data.retryReport} skeleton={<Skeleton height={104} count={4} />}>
            {(loaded) => <RoiView report={loaded} range={data.shownRange} minutes={roi} onAdjustMinutes={() => setRoiOpen(true)} />}
          </LoadGate>
        )}

        {page === "adoption" && !report.data && (
          <LoadGate state={report} onRetry={data.retryReport} skeleton={<Skeleton height={240} count={2} />}>
            {() => null}
          </LoadGate>
        )}
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

