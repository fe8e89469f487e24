// Bar chart of the most active users in the range.

import { useMemo } from "react";
import type { ChartConfiguration } from "chart.js";
import type { PrimaryKey, UserMetric } from "../api/types";
import { formatAxisHours, formatCount, formatDurationShort, secondsToHours } from "../format";
import type { Theme } from "../state/theme";
import { userLabel } from "../state/userTable";
import { ChartView, readPalette } from "./Chart";
import { shorten } from "./slices";

export type ActivityMetric = "time" | "count";

export function activityValue(row: UserMetric, metric: ActivityMetric): number {
  return metric === "time" ? row.totalSessionTimeSeconds : row.sessionCount;
}

export function formatActivity(value: number, metric: ActivityMetric): string {
  return metric === "time" ? formatDurationShort(value) : `${formatCount(value)} sessions`;
}

interface TopUsersChartProps {
  users: readonly UserMetric[];
  primaryKey: PrimaryKey;
  metric: ActivityMetric;
  theme: Theme;
  limit?: number;
}

export function TopUsersChart({ users, primaryKey, metric, theme, limit = 10 }: TopUsersChartProps) {
  const top = useMemo(
    () =>
      [...users]
        .sort((a, b) => activityValue(b, metric) - activityValue(a, metric))
        .slice(0, limit)
        .filter((row) => activityValue(row, metric) > 0),
    [users, metric, limit],
  );

  const config = useMemo((): ChartConfiguration<"bar"> => {
    const palette = readPalette();
    const labels = top.map((row) => userLabel(row, primaryKey));
    const raw = top.map((row) => activityValue(row, metric));
    return {
      type: "bar",
      data: {
        labels,
        datasets: [
          {
            label: metric === "time" ? "Session time (hours)" : "Sessions",
            data: metric === "time" ? raw.map(secondsToHours) : raw,
            backgroundColor: palette.series[0],
            borderRadius: 4,
          },
        ],
      },
      options: {
        indexAxis: "y",
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: (items) => labels[items[0]?.dataIndex ?? 0] ?? "",
              label: (item) => formatActivity(raw[item.dataIndex] ?? 0, metric),
            },
          },
        },
        scales: {
          x: {
            beginAtZero: true,
            ticks: { callback: (value) => (metric === "time" ? formatAxisHours(Number(value)) : formatCount(Number(value))) },
          },
          y: {
            grid: { display: false },
            // Long names are shortened more on narrow charts; the tooltip has the full name.
            ticks: {
              callback(value) {
                return shorten(this.getLabelForValue(Number(value)), this.chart.width < 480 ? 16 : 30);
              },
            },
          },
        },
      },
    };
  }, [top, metric, primaryKey, theme]);

  if (top.length === 0) return <p className="empty-chart">No user activity in this range.</p>;
  const summary = top.map((row) => `${userLabel(row, primaryKey)}: ${formatActivity(activityValue(row, metric), metric)}`).join("; ");
  return (
    <ChartView
      config={config as ChartConfiguration}
      label={`Top ${top.length} users by ${metric === "time" ? "session time" : "session count"}. ${summary}`}
      testId="top-users-chart"
      points={top.length}
      height={Math.max(180, top.length * 30 + 40)}
    />
  );
}
