// Sessions (or session time) per day, week or month across the range.

import { useMemo } from "react";
import type { ChartConfiguration } from "chart.js";
import type { UsageTrends } from "../api/types";
import { formatAxisHours, formatBucketLabel, formatCount, formatDurationShort, secondsToHours } from "../format";
import type { Theme } from "../state/theme";
import { ChartView, readPalette } from "./Chart";
import type { ActivityMetric } from "./TopUsersChart";

interface TrendChartProps {
  trends: UsageTrends;
  metric: ActivityMetric;
  theme: Theme;
}

const INTERVAL_NAMES = { day: "day", week: "week", month: "month" } as const;

export function TrendChart({ trends, metric, theme }: TrendChartProps) {
  const { buckets, interval } = trends;

  const config = useMemo((): ChartConfiguration => {
    const palette = readPalette();
    const labels = buckets.map((bucket) => formatBucketLabel(bucket.start, interval));
    if (metric === "time") {
      return {
        type: "bar",
        data: {
          labels,
          datasets: [
            {
              label: "Session time (hours)",
              data: buckets.map((bucket) => secondsToHours(bucket.sessionTimeSeconds)),
              backgroundColor: palette.series[0],
              borderRadius: 3,
            },
          ],
        },
        options: {
          plugins: {
            legend: { display: false },
            tooltip: { callbacks: { label: (item) => formatDurationShort(buckets[item.dataIndex]?.sessionTimeSeconds ?? 0) } },
          },
          scales: {
            x: { grid: { display: false } },
            y: { beginAtZero: true, ticks: { callback: (value) => formatAxisHours(Number(value)) } },
          },
        },
      };
    }
    return {
      type: "bar",
      data: {
        labels,
        datasets: [
          {
            type: "bar",
            label: "User sessions",
            data: buckets.map((bucket) => bucket.userSessions),
            backgroundColor: palette.series[0],
            stack: "sessions",
            borderRadius: 3,
          },
          {
            type: "bar",
            label: "CI sessions",
            data: buckets.map((bucket) => bucket.ciSessions),
            backgroundColor: palette.series[1],
            stack: "sessions",
            borderRadius: 3,
          },
          {
            type: "line",
            label: "Active users",
            data: buckets.map((bucket) => bucket.activeUsers),
            borderColor: palette.series[2],
            backgroundColor: palette.series[2],
            pointRadius: buckets.length > 60 ? 0 : 2,
            tension: 0.25,
          },
        ],
      },
      options: {
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12 } },
          tooltip: { callbacks: { label: (item) => `${item.dataset.label}: ${formatCount(Number(item.raw))}` } },
        },
        scales: {
          x: { stacked: true, grid: { display: false } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0, callback: (value) => formatCount(Number(value)) } },
        },
      },
    };
  }, [buckets, interval, metric, theme]);

  if (buckets.length === 0) return <p className="empty-chart">No sessions in this range.</p>;
  const totalSessions = buckets.reduce((sum, bucket) => sum + bucket.userSessions + bucket.ciSessions, 0);
  return (
    <ChartView
      config={config}
      label={`Trend per ${INTERVAL_NAMES[interval]} over ${buckets.length} ${INTERVAL_NAMES[interval]}s: ${formatCount(totalSessions)} sessions in total.`}
      testId="trend-chart"
      points={buckets.length}
      height={280}
    />
  );
}
