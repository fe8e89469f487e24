// Activity in the selected range: summary figures, top users, how activity is spread, and the
// trend over time.

import { useId } from "react";
import type { PrimaryKey, UsageReport, UsageSummary, UsageTrends, UserMetric } from "../api/types";
import { ActivityPie } from "../charts/ActivityPie";
import type { ActivityMetric } from "../charts/TopUsersChart";
import { TopUsersChart } from "../charts/TopUsersChart";
import { TrendChart } from "../charts/TrendChart";
import { EMPTY, formatCount, formatDurationLong, formatDurationShort } from "../format";
import { describeChange } from "../state/comparison";
import { userLabel } from "../state/userTable";
import type { Theme } from "../state/theme";
import type { Loadable } from "../state/useDashboardData";
import { ANALYST_ROLE, LoadGate, Skeleton } from "./LoadGate";
import { MetricCard } from "./MetricCard";
import { Sparkline } from "./Sparkline";

/** The figures of a report that the summary endpoint gives for another range. */
export function summaryOf(report: UsageReport): UsageSummary {
  const g = report.generalMetrics;
  return {
    reportPeriod: g.reportPeriod,
    activeUsers: g.activeUsers,
    licensesUsed: g.licensesUsed,
    userSessions: g.userSessions,
    userSessionTimeSeconds: g.userSessionTimeSeconds,
    ciSessions: report.ciMetrics.totalCiSessions,
  };
}

/** The most active user of the range: the longest total session time, ties broken by id. */
export function champion(users: readonly UserMetric[]): UserMetric | null {
  let best: UserMetric | null = null;
  for (const user of users) {
    if (user.id === null || user.sessionCount === 0) continue;
    if (
      !best ||
      user.totalSessionTimeSeconds > best.totalSessionTimeSeconds ||
      (user.totalSessionTimeSeconds === best.totalSessionTimeSeconds && user.id < (best.id ?? ""))
    ) {
      best = user;
    }
  }
  return best;
}

function ChampionCard({ report, primaryKey }: { report: UsageReport; primaryKey: PrimaryKey }) {
  if (!report.userMetrics) {
    return (
      <MetricCard id="champion" label="Champion" text={EMPTY} hint={`Needs the ${ANALYST_ROLE} role`} />
    );
  }
  const best = champion(report.userMetrics);
  return (
    <MetricCard
      id="champion"
      label="Champion"
      text={best ? userLabel(best, primaryKey) : EMPTY}
      value={best?.id ?? ""}
      hint={best ? `${formatDurationLong(best.totalSessionTimeSeconds)} in ${formatCount(best.sessionCount)} sessions` : "No user sessions in this range"}
    />
  );
}

interface RangeSummaryProps {
  report: UsageReport;
  primaryKey: PrimaryKey;
  /** The same figures for the previous period of equal length, when there is one. */
  previous?: UsageSummary | null;
  comparisonLabel?: string;
  trends?: UsageTrends | null;
}

export function RangeSummary({ report, primaryKey, previous, comparisonLabel = "", trends }: RangeSummaryProps) {
  const { activeUsers, userSessions, userSessionTimeSeconds } = report.generalMetrics;
  const buckets = trends?.buckets ?? [];
  const current = summaryOf(report);
  const delta = (pick: (s: UsageSummary) => number) => (previous ? describeChange(pick(current), pick(previous), comparisonLabel) : null);
  return (
    <div className="metric-grid compact" data-testid="range-summary">
      <MetricCard
        id="range-active-users"
        label="Active users"
        text={formatCount(activeUsers)}
        value={activeUsers}
        delta={delta((s) => s.activeUsers)}
      >
        <Sparkline values={buckets.map((b) => b.activeUsers)} testId="sparkline-active-users" />
      </MetricCard>
      <MetricCard
        id="range-user-sessions"
        label="User sessions"
        text={formatCount(userSessions)}
        value={userSessions}
        delta={delta((s) => s.userSessions)}
      >
        <Sparkline values={buckets.map((b) => b.userSessions)} testId="sparkline-user-sessions" />
      </MetricCard>
      <MetricCard
        id="range-session-time"
        label="User session time"
        text={formatDurationLong(userSessionTimeSeconds)}
        value={userSessionTimeSeconds}
        delta={delta((s) => s.userSessionTimeSeconds)}
      >
        <Sparkline values={buckets.map((b) => b.sessionTimeSeconds)} testId="sparkline-session-time" />
      </MetricCard>
      <MetricCard
        id="range-ci-sessions"
        label="CI sessions"
        text={formatCount(report.ciMetrics.totalCiSessions)}
        value={report.ciMetrics.totalCiSessions}
        delta={delta((s) => s.ciSessions)}
      >
        <Sparkline values={buckets.map((b) => b.ciSessions)} testId="sparkline-ci-sessions" />
      </MetricCard>
      <MetricCard
        id="range-avg-ci-duration"
        label="Average CI session"
        text={formatDurationShort(report.ciMetrics.avgCiSessionDurationSeconds)}
        value={report.ciMetrics.avgCiSessionDurationSeconds}
      />
      <ChampionCard report={report} primaryKey={primaryKey} />
    </div>
  );
}

function MetricToggle({ metric, onChange }: { metric: ActivityMetric; onChange: (metric: ActivityMetric) => void }) {
  const name = useId();
  return (
    <fieldset className="segmented">
      <legend className="visually-hidden">Measure activity by</legend>
      {(
        [
          ["time", "Session time"],
          ["count", "Session count"],
        ] as const
      ).map(([value, label]) => (
        <label key={value} className={metric === value ? "selected" : undefined}>
          <input
            type="radio"
            name={name}
            value={value}
            checked={metric === value}
            onChange={() => onChange(value)}
            data-testid={`analytics-metric-${value}`}
          />
          {label}
        </label>
      ))}
    </fieldset>
  );
}

export function UserMetricsOmitted({ reason }: { reason: string }) {
  return (
    <div className="notice" role="status" data-testid="user-metrics-omitted">
      Per-user data is not shown: {reason.replace(/\.$/, "")}. Ask your cluster admin for the {ANALYST_ROLE} role to see it.
    </div>
  );
}

interface UsageAnalyticsProps {
  report: Loadable<UsageReport>;
  previous: Loadable<UsageSummary>;
  comparisonLabel: string;
  trends: Loadable<UsageTrends>;
  primaryKey: PrimaryKey;
  metric: ActivityMetric;
  onMetric: (metric: ActivityMetric) => void;
  theme: Theme;
  onRetryReport: () => void;
  onRetryTrends: () => void;
}

export function UsageAnalytics({ report, previous, comparisonLabel, trends, primaryKey, metric, onMetric, theme, onRetryReport, onRetryTrends }: UsageAnalyticsProps) {
  return (
    <>
      <LoadGate state={report} onRetry={onRetryReport} skeleton={<Skeleton height={72} count={1} />}>
        {(data) => (
          <RangeSummary report={data} primaryKey={primaryKey} previous={previous.data} comparisonLabel={comparisonLabel} trends={trends.data} />
        )}
      </LoadGate>
      <div className="analytics-toolbar">
        <MetricToggle metric={metric} onChange={onMetric} />
      </div>
      <div className="chart-grid">
        <div className="card chart-card" data-testid="top-users">
          <h3>Top active users</h3>
          <LoadGate state={report} onRetry={onRetryReport} skeleton={<Skeleton height={260} />}>
            {(data) =>
              data.userMetrics ? (
                <TopUsersChart users={data.userMetrics} primaryKey={primaryKey} metric={metric} theme={theme} />
              ) : (
                <UserMetricsOmitted reason={data.userMetricsOmitted ?? "not available to you."} />
              )
            }
          </LoadGate>
        </div>
        <div className="card chart-card" data-testid="activity-distribution">
          <h3>Activity distribution</h3>
          <LoadGate state={report} onRetry={onRetryReport} skeleton={<Skeleton height={260} />}>
            {(data) =>
              data.userMetrics ? (
                <ActivityPie users={data.userMetrics} primaryKey={primaryKey} metric={metric} theme={theme} />
              ) : (
                <UserMetricsOmitted reason={data.userMetricsOmitted ?? "not available to you."} />
              )
            }
          </LoadGate>
        </div>
        <div className="card chart-card wide" data-testid="trend">
          <h3>
            Trend{trends.data ? ` per ${trends.data.interval}` : ""}
          </h3>
          <LoadGate state={trends} onRetry={onRetryTrends} skeleton={<Skeleton height={280} />}>
            {(data) => <TrendChart trends={data} metric={metric} theme={theme} />}
          </LoadGate>
        </div>
      </div>
    </>
  );
}
