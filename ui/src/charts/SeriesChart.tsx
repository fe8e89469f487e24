// One series over trend buckets, as bars (amounts per bucket) or a line (a running total).

import { useMemo } from "react";
import type { ChartConfiguration } from "chart.js";
import type { TrendInterval } from "../api/types";
import { formatBucketLabel, formatCount } from "../format";
import type { Theme } from "../state/theme";
import { ChartView, readPalette } from "./Chart";

interface SeriesChartProps {
  points: ReadonlyArray<{ start: string; value: number }>;
  interval: TrendInterval;
  kind: "bar" | "line";
  label: string;
  testId: string;
  theme: Theme;
  colour?: number;
}

export function SeriesChart({ points, interval, kind, label, testId, theme, colour = 0 }: SeriesChartProps) {
  const config = useMemo((): ChartConfiguration<"bar" | "line"> => {
    const palette = readPalette();
    const color = palette.series[colour] ?? palette.series[0];
    return {
      type: kind,
      data: {
        labels: points.map((p) => formatBucketLabel(p.start, interval)),
        datasets: [
          kind === "bar"
            ? { type: "bar", label, data: points.map((p) => p.value), backgroundColor: color, borderRadius: 3 }
            : { type: "line", label, data: points.map((p) => p.value), borderColor: color, pointRadius: 0, tension: 0.2 },
        ],
      },
      options: {
        plugins: { legend: { display: false } },
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, ticks: { precision: 0, callback: (value) => formatCount(Number(value)) } },
        },
      },
    };
  }, [points, interval, kind, label, theme, colour]);

  if (points.length === 0) return <p className="empty-chart">No sessions in this range.</p>;
  const last = points.at(-1)?.value ?? 0;
  return <ChartView config={config as ChartConfiguration} label={`${label}; latest ${formatCount(last)}`} testId={testId} points={points.length} height={240} />;
}
