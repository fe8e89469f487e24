// Activity in the selected range: summary figures, top users, how activity is spread, and the
// trend over time.

import { useId } from "react";
import type { PrimaryKey, UsageReport, UsageTrends } from "../api/types";
import { ActivityPie } from "../charts/ActivityPie";
import type { ActivityMetric } from "../charts/TopUsersChart";
import { TopUsersChart } from "../charts/TopUsersChart";
import { TrendChart } from "../charts/TrendChart";
import { formatCount, formatDurationLong, formatDurationShort } from "../format";
import type { Theme } from "../state/theme";
import type { Loadable } from "../state/useDashboardData";
import { ANALYST_ROLE, LoadGate, Skeleton } from "./LoadGate";
import { MetricCard } from "./MetricCard";

export function RangeSummary({ report }: { report: UsageReport }) {
  const { activeUsers, userSessions, userSessionTimeSeconds } = report.generalMetrics;
  return (
    <div className="metric-grid compact" data-testid="range-summary">
      <MetricCard id="range-active-users" label="Active users" text={formatCount(activeUsers)} value={activeUsers} />
      <MetricCard id="range-user-sessions" label="User sessions" text={formatCount(userSessions)} value={userSessions} />
      <MetricCard id="range-session-time" label="User session time" text={formatDurationLong(userSessionTimeSeconds)} value={userSessionTimeSeconds} />
      <MetricCard id="range-ci-sessions" label="CI sessions" text={formatCount(report.ciMetrics.totalCiSessions)} value={report.ciMetrics.totalCiSessions} />
      <MetricCard
        id="range-avg-ci-duration"
        label="Average CI session"
        text={formatDurationShort(report.ciMetrics.avgCiSessionDurationSeconds)}
        value={report.ciMetrics.avgCiSessionDurationSeconds}
      />
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
  trends: Loadable<UsageTrends>;
  primaryKey: PrimaryKey;
  metric: ActivityMetric;
  onMetric: (metric: ActivityMetric) => void;
  theme: Theme;
  onRetryReport: () => void;
  onRetryTrends: () => void;
}

export function UsageAnalytics({ report, trends, primaryKey, metric, onMetric, theme, onRetryReport, onRetryTrends }: UsageAnalyticsProps) {
  return (
    <>
      <LoadGate state={report} onRetry={onRetryReport} skeleton={<Skeleton height={72} count={1} />}>
        {(data) => <RangeSummary report={data} />}
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
