// Targets: which workloads are debugged most and by how many people, per namespace and per target.

import { useCallback, useMemo } from "react";
import type { TargetMetric } from "../api/types";
import { BubbleChart, type Bubble } from "../charts/BubbleChart";
import { formatCount, formatDurationShort } from "../format";
import type { Theme } from "../state/theme";
import { targetName, Targets } from "../components/Targets";

export function targetBubbles(targets: readonly TargetMetric[]): Bubble[] {
  return targets
    .filter((t) => t.sessionCount > 0)
    .map((t) => ({ label: `${t.namespace ?? "(no namespace)"}/${targetName(t)}`, x: t.sessionCount, y: t.uniqueUsers, size: t.totalSessionTimeSeconds }));
}

export function TargetsView({ targets, theme }: { targets: readonly TargetMetric[]; theme: Theme }) {
  const bubbles = useMemo(() => targetBubbles(targets), [targets]);
  const describe = useCallback(
    (b: Bubble) => `${b.label}: ${formatCount(b.x)} sessions by ${formatCount(b.y)} users, ${formatDurationShort(b.size)} in all`,
    [],
  );
  return (
    <>
      <div className="card chart-card" data-testid="target-scatter-card">
        <h3>Sessions and unique users per target</h3>
        <p className="small muted">Bubble size: total session time</p>
        <BubbleChart
          bubbles={bubbles}
          xTitle="Sessions"
          yTitle="Unique users"
          formatX={formatCount}
          formatY={formatCount}
          describe={describe}
          label="Sessions against unique users per target"
          testId="target-scatter"
          theme={theme}
        />
      </div>
      <Targets targets={targets} theme={theme} />
    </>
  );
}
