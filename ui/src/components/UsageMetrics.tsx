// The all-time usage figures: time saved, licenses, sessions running now, peak concurrency and
// total session time.

import type { UsageReport } from "../api/types";
import { EMPTY, formatCount, formatDate, formatDurationLong, formatHours } from "../format";
import { timeSaved, type RoiSettings } from "../state/roi";
import { MetricCard } from "./MetricCard";

export const CI_DOCS_URL = "https://metalbear.com/mirrord/docs/using-mirrord/mirrord-for-ci";

export function isTeamsTier(tier: string): boolean {
  return tier.trim().toLowerCase() === "teams";
}

interface UsageMetricsProps {
  report: UsageReport;
  roi: RoiSettings;
}

export function UsageMetrics({ report, roi }: UsageMetricsProps) {
  const { generalMetrics: general, allTimeMetrics: allTime, ciMetrics: ci } = report;
  const saved = timeSaved(allTime.totalSessionCount, allTime.totalCiSessionCount, roi);
  const acquired = general.totalLicenses;
  const totalSeconds = allTime.totalSessionTimeSeconds + allTime.totalCiSessionTimeSeconds;

  return (
    <div className="metric-grid">
      <MetricCard
        id="developer-time-saved"
        label="Developer time saved"
        text={formatHours(saved.developerHours)}
        value={saved.developerHours}
        hint={`${formatCount(allTime.totalSessionCount)} user sessions × ${formatCount(roi.userMinutesPerSession)} min`}
      />
      <MetricCard
        id="ci-time-saved"
        label="CI waiting time saved"
        text={formatHours(saved.ciHours)}
        value={saved.ciHours}
        hint={`${formatCount(allTime.totalCiSessionCount)} CI sessions × ${formatCount(roi.ciMinutesPerSession)} min`}
      />
      <div className="card metric" data-testid="metric-licenses">
        <div className="metric-label">Licenses used / acquired</div>
        <div
          className="metric-value"
          data-testid="metric-licenses-value"
          data-used={general.licensesUsed}
          data-acquired={acquired ?? ""}
        >
          {formatCount(general.licensesUsed)} / {acquired == null ? EMPTY : formatCount(acquired)}
        </div>
        <div className="metric-hint">Machines with a user session in the selected range</div>
      </div>
      <MetricCard
        id="active-user-sessions"
        label="Active user sessions"
        text={formatCount(general.activeUserSessions)}
        value={general.activeUserSessions}
        hint="Running now"
      />
      <MetricCard
        id="active-ci-sessions"
        label="Active CI sessions"
        text={formatCount(ci.currentRunningSessions)}
        value={ci.currentRunningSessions}
        hint="Running now"
      >
        {!isTeamsTier(general.tier) && (
          <a className="metric-link" href={CI_DOCS_URL} target="_blank" rel="noopener noreferrer" data-testid="learn-more-ci">
            Learn more about CI<span className="visually-hidden"> (opens in a new tab)</span>
          </a>
        )}
      </MetricCard>
      <MetricCard
        id="max-user-concurrency"
        label="Max user concurrency"
        text={formatCount(allTime.maxConcurrentUserSessions)}
        value={allTime.maxConcurrentUserSessions}
        hint="Peak concurrent user sessions since adoption"
      />
      <MetricCard
        id="max-ci-concurrency"
        label="Max CI concurrency"
        text={formatCount(ci.maxConcurrentCiSessions)}
        value={ci.maxConcurrentCiSessions}
        hint="Peak concurrent CI sessions"
      />
      <MetricCard
        id="total-session-time"
        label="Total session time"
        text={formatDurationLong(totalSeconds)}
        value={totalSeconds}
        hint={
          allTime.firstSessionAt
            ? `Users: ${formatDurationLong(allTime.totalSessionTimeSeconds)} · CI: ${formatDurationLong(allTime.totalCiSessionTimeSeconds)} · since ${formatDate(allTime.firstSessionAt)}`
            : "No sessions yet"
        }
      />
    </div>
  );
}
