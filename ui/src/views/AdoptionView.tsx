// Adoption: new users over the range, everyone who ever used mirrord, and who came back.

import { useEffect } from "react";
import type { ApiClient, ApiError } from "../api/client";
import type { PrimaryKey, UsageReport, UsageTrends } from "../api/types";
import { SeriesChart } from "../charts/SeriesChart";
import { formatCount, formatPercent } from "../format";
import { adoptionInterval, cumulativeUsers, returningUsers } from "../state/adoption";
import type { Theme } from "../state/theme";
import { useLoad } from "../state/useLoad";
import type { TimeRange } from "../state/viewState";
import { LoadGate, Skeleton } from "../components/LoadGate";
import { MetricCard } from "../components/MetricCard";
import { Section } from "../components/Section";
import { UserMetricsOmitted } from "../components/UsageAnalytics";

interface AdoptionViewProps {
  client: ApiClient;
  report: UsageReport;
  range: TimeRange;
  now: Date;
  primaryKey: PrimaryKey;
  onUnauthorized: (error: ApiError) => void;
  theme: Theme;
  onReady: (ready: boolean) => void;
}

function monthStart(iso: string): Date {
  const date = new Date(iso);
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), 1));
}

export function AdoptionView({ client, report, range, now, primaryKey, onUnauthorized, theme, onReady }: AdoptionViewProps) {
  const interval = adoptionInterval(range);
  const [inRange, retryInRange] = useLoad<UsageTrends>(
    (signal) => client.trends({ ...range, primaryKey, interval }, signal),
    onUnauthorized,
    `${range.from.getTime()}-${range.to.getTime()}-${interval}-${primaryKey}`,
  );
  const first = report.allTimeMetrics.firstSessionAt;
  const [allTime, retryAllTime] = useLoad<UsageTrends>(
    (signal) =>
      first
        ? client.trends({ from: monthStart(first), to: now, primaryKey, interval: "month" }, signal)
        : Promise.resolve({ interval: "month", reportPeriod: { from: now.toISOString(), to: now.toISOString() }, buckets: [] }),
    onUnauthorized,
    `${first}-${now.getTime()}-${primaryKey}`,
  );
  const done = !inRange.loading && !allTime.loading;
  useEffect(() => onReady(done), [done, onReady]);

  const returning = report.userMetrics ? returningUsers(report.userMetrics) : null;
  const users = returning ? returning.returning + returning.oneTime : 0;

  return (
    <>
      <Section title="New users" testId="section-new-users" busy={inRange.loading}>
        <LoadGate state={inRange} onRetry={retryInRange} skeleton={<Skeleton height={240} />}>
          {(trends) => {
            const added = trends.buckets.reduce((sum, b) => sum + b.newUsers, 0);
            return (
              <>
                <div className="metric-grid compact">
                  <MetricCard id="adoption-new-users" label="New users in the range" text={formatCount(added)} value={added} hint="First session ever in the range" />
                  <MetricCard id="adoption-active-users" label="Active users" text={formatCount(report.generalMetrics.activeUsers)} value={report.generalMetrics.activeUsers} />
                  {returning && (
                    <>
                      <MetricCard
                        id="adoption-returning"
                        label="Returning users"
                        text={formatCount(returning.returning)}
                        value={returning.returning}
                        hint={users > 0 ? `${formatPercent(returning.returning / users)} of active users had more than one session` : undefined}
                      />
                      <MetricCard id="adoption-one-time" label="One-time users" text={formatCount(returning.oneTime)} value={returning.oneTime} hint="One session in the range" />
                    </>
                  )}
                </div>
                {!returning && <UserMetricsOmitted reason={report.userMetricsOmitted ?? "not available to you."} />}
                <div className="card chart-card">
                  <h3>New users per {trends.interval}</h3>
                  <SeriesChart
                    points={trends.buckets.map((b) => ({ start: b.start, value: b.newUsers }))}
                    interval={trends.interval}
                    kind="bar"
                    label={`New users per ${trends.interval}`}
                    testId="new-users-chart"
                    theme={theme}
                  />
                </div>
              </>
            );
          }}
        </LoadGate>
      </Section>
      <Section title="Users over all time" testId="section-cumulative-users" busy={allTime.loading}>
        <LoadGate state={allTime} onRetry={retryAllTime} skeleton={<Skeleton height={240} />}>
          {(trends) => {
            const points = cumulativeUsers(trends.buckets).map((p) => ({ start: p.start, value: p.total }));
            const total = points.at(-1)?.value ?? 0;
            return (
              <>
                <div className="metric-grid compact">
                  <MetricCard id="adoption-users-ever" label="Users ever" text={formatCount(total)} value={total} hint="Everyone with a user session since the first one" />
                </div>
                <div className="card chart-card">
                  <h3>Users ever, by month</h3>
                  <SeriesChart points={points} interval="month" kind="line" label="Users ever, by month" testId="cumulative-users-chart" theme={theme} colour={1} />
                </div>
              </>
            );
          }}
        </LoadGate>
      </Section>
    </>
  );
}
