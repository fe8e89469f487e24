// Users: how often and how long each user works with mirrord, when they started and when they
// were last seen, and the per-user table.

import { useCallback, useMemo, type ReactNode } from "react";
import type { PrimaryKey, UsageReport, UserMetric } from "../api/types";
import { BubbleChart, type Bubble } from "../charts/BubbleChart";
import { TimelineChart, type Span } from "../charts/TimelineChart";
import { formatCount, formatDurationShort } from "../format";
import type { Theme } from "../state/theme";
import { userLabel } from "../state/userTable";
import { UserMetricsOmitted } from "../components/UsageAnalytics";

/** Users with the most session time, at most this many, on the timeline. */
export const TIMELINE_USERS = 30;

export function userBubbles(users: readonly UserMetric[], primaryKey: PrimaryKey): Bubble[] {
  return users
    .filter((u) => u.id !== null && u.sessionCount > 0)
    .map((u) => ({ label: userLabel(u, primaryKey), x: u.sessionCount, y: u.avgSessionDurationSeconds / 60, size: u.totalSessionTimeSeconds }));
}

export function userSpans(users: readonly UserMetric[], primaryKey: PrimaryKey, limit = TIMELINE_USERS): Span[] {
  return [...users]
    .filter((u) => u.id !== null)
    .sort((a, b) => b.totalSessionTimeSeconds - a.totalSessionTimeSeconds || (a.id ?? "").localeCompare(b.id ?? ""))
    .slice(0, limit)
    .map((u) => ({ label: userLabel(u, primaryKey), from: Date.parse(u.activeSince), to: Date.parse(u.lastSession) }))
    .sort((a, b) => a.from - b.from);
}

interface UsersViewProps {
  report: UsageReport;
  primaryKey: PrimaryKey;
  theme: Theme;
  table: (users: UserMetric[]) => ReactNode;
}

export function UsersView({ report, primaryKey, theme, table }: UsersViewProps) {
  const users = report.userMetrics;
  const bubbles = useMemo(() => (users ? userBubbles(users, primaryKey) : []), [users, primaryKey]);
  const spans = useMemo(() => (users ? userSpans(users, primaryKey) : []), [users, primaryKey]);
  const describe = useCallback(
    (b: Bubble) => `${b.label}: ${formatCount(b.x)} sessions, ${formatDurationShort(b.y * 60)} on average, ${formatDurationShort(b.size)} in all`,
    [],
  );
  if (!users) return <UserMetricsOmitted reason={report.userMetricsOmitted ?? "not available to you."} />;
  return (
    <>
      <div className="chart-grid">
        <div className="card chart-card" data-testid="user-scatter-card">
          <h3>Sessions and average duration per user</h3>
          <p className="small muted">Bubble size: total session time</p>
          <BubbleChart
            bubbles={bubbles}
            xTitle="Sessions"
            yTitle="Average duration (minutes)"
            formatX={formatCount}
            formatY={(v) => `${formatCount(v)} min`}
            describe={describe}
            label="Sessions against average duration per user"
            testId="user-scatter"
            theme={theme}
          />
        </div>
        <div className="card chart-card" data-testid="user-timeline-card">
          <h3>First and last session</h3>
          <p className="small muted">
            The {formatCount(Math.min(TIMELINE_USERS, users.length))} users with the most session time
          </p>
          <TimelineChart spans={spans} theme={theme} label="First to last session of the users with the most session time" />
        </div>
      </div>
      {table(users)}
    </>
  );
}
