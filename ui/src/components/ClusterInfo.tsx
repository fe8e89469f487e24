// Which cluster and operator the dashboard describes, and where to look for a newer chart. The
// link stands beside the list: a `<dl>` may hold only its term and description groups.

import type { GeneralMetrics } from "../api/types";
import { EMPTY, formatDateTime } from "../format";

export const CHANGELOG_URL = "https://github.com/metalbear-co/charts/blob/main/CHANGELOG.md";

export function ClusterInfo({ general }: { general: GeneralMetrics | null }) {
  return (
    <div className="cluster-info" data-testid="cluster-info">
      <dl>
        <div>
          <dt>Cluster</dt>
          <dd data-testid="cluster-name">{general?.clusterName ?? EMPTY}</dd>
        </div>
        <div>
          <dt>Operator</dt>
          <dd data-testid="operator-version">
            {general?.operatorVersion ?? EMPTY}
            {general?.chartVersion && <span className="muted" data-testid="chart-version"> (chart {general.chartVersion})</span>}
          </dd>
        </div>
        <div>
          <dt>Tier</dt>
          <dd>
            <span className="badge" data-testid="tier">
              {general?.tier ?? EMPTY}
            </span>
          </dd>
        </div>
        {general?.lastOperatorEvent && (
          <div>
            <dt>Last operator event</dt>
            <dd data-testid="last-operator-event">{formatDateTime(general.lastOperatorEvent)}</dd>
          </div>
        )}
      </dl>
      <div className="cluster-info-link">
        <a className="button" href={CHANGELOG_URL} target="_blank" rel="noopener noreferrer" data-testid="check-updates">
          Check for updates<span className="visually-hidden"> (opens the chart changelog in a new tab)</span>
        </a>
      </div>
    </div>
  );
}
