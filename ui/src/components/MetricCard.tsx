// One figure with its label. `value` is the raw number behind the text, exposed for tests.

import type { ReactNode } from "react";

interface MetricCardProps {
  id: string;
  label: string;
  text: string;
  value?: number | string | null;
  hint?: ReactNode;
  /** A comparison with the previous period, shown under the figure. */
  delta?: string | null;
  children?: ReactNode;
}

export function MetricCard({ id, label, text, value, hint, delta, children }: MetricCardProps) {
  return (
    <div className="card metric" data-testid={`metric-${id}`}>
      <div className="metric-label">{label}</div>
      <div className="metric-value" data-testid={`metric-${id}-value`} data-value={value ?? ""}>
        {text}
      </div>
      {delta && (
        <div className="metric-delta" data-testid={`metric-${id}-delta`}>
          {delta}
        </div>
      )}
      {hint && <div className="metric-hint">{hint}</div>}
      {children}
    </div>
  );
}
