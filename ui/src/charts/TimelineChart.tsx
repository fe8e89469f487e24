// First-seen to last-seen of users, one floating bar each.

import { useMemo } from "react";
import type { ChartConfiguration } from "chart.js";
import { formatDate } from "../format";
import type { Theme } from "../state/theme";
import { ChartView, readPalette } from "./Chart";
import { shorten } from "./slices";

export interface Span {
  label: string;
  from: number;
  to: number;
}

export function TimelineChart({ spans, theme, label }: { spans: readonly Span[]; theme: Theme; label: string }) {
  const config = useMemo((): ChartConfiguration<"bar"> => {
    const palette = readPalette();
    return {
      type: "bar",
      data: {
        labels: spans.map((s) => s.label),
        datasets: [
          {
            label: "First to last session",
            // A span of one instant still gets a visible sliver.
            data: spans.map((s) => [s.from, Math.max(s.to, s.from + 6 * 3600 * 1000)] as [number, number]),
            backgroundColor: palette.series[1],
            borderRadius: 3,
          },
        ],
      },
      options: {
        indexAxis: "y",
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: (item) => {
                const span = spans[item.dataIndex]!;
                return `${formatDate(new Date(span.from))} – ${formatDate(new Date(span.to))}`;
              },
            },
          },
        },
        scales: {
          x: { min: Math.min(...spans.map((s) => s.from)), ticks: { maxTicksLimit: 6, callback: (value) => formatDate(new Date(Number(value))) } },
          y: {
            grid: { display: false },
            ticks: {
              autoSkip: false,
              callback(value) {
                return shorten(this.getLabelForValue(Number(value)), this.chart.width < 480 ? 14 : 26);
              },
            },
          },
        },
      },
    };
  }, [spans, theme]);

  if (spans.length === 0) return <p className="empty-chart">No user activity in this range.</p>;
  return (
    <ChartView config={config as ChartConfiguration} label={label} testId="user-timeline" points={spans.length} height={Math.max(160, spans.length * 18 + 50)} />
  );
}
