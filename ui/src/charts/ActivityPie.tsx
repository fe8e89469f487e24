// How activity is spread across users: the top users and everyone else.

import { useMemo } from "react";
import type { ChartConfiguration } from "chart.js";
import type { PrimaryKey, UserMetric } from "../api/types";
import { formatPercent } from "../format";
import type { Theme } from "../state/theme";
import { userLabel } from "../state/userTable";
import { ChartView, readPalette } from "./Chart";
import { shorten, topWithOthers } from "./slices";
import { activityValue, formatActivity, type ActivityMetric } from "./TopUsersChart";

interface ActivityPieProps {
  users: readonly UserMetric[];
  primaryKey: PrimaryKey;
  metric: ActivityMetric;
  theme: Theme;
  slices?: number;
}

export function ActivityPie({ users, primaryKey, metric, theme, slices = 8 }: ActivityPieProps) {
  const data = useMemo(
    () => topWithOthers(users.map((row) => ({ label: userLabel(row, primaryKey), value: activityValue(row, metric) })), slices),
    [users, primaryKey, metric, slices],
  );
  const total = data.reduce((sum, slice) => sum + slice.value, 0);

  const config = useMemo((): ChartConfiguration<"doughnut"> => {
    const palette = readPalette();
    return {
      type: "doughnut",
      data: {
        labels: data.map((slice) => shorten(slice.label, 24)),
        datasets: [
          {
            data: data.map((slice) => slice.value),
            backgroundColor: data.map((slice, i) => (slice.label === "Others" ? palette.grid : palette.series[i % palette.series.length])),
            borderColor: palette.surface,
            borderWidth: 2,
          },
        ],
      },
      options: {
        cutout: "55%",
        plugins: {
          legend: { position: "bottom", labels: { boxWidth: 12, padding: 8 } },
          tooltip: {
            callbacks: {
              title: (items) => data[items[0]?.dataIndex ?? 0]?.label ?? "",
              label: (item) => {
                const value = data[item.dataIndex]?.value ?? 0;
                return `${formatActivity(value, metric)} (${formatPercent(total ? value / total : 0)})`;
              },
            },
          },
        },
      },
    };
  }, [data, total, metric, theme]);

  if (data.length === 0) return <p className="empty-chart">No user activity in this range.</p>;
  const summary = data.map((slice) => `${slice.label}: ${formatPercent(total ? slice.value / total : 0)}`).join("; ");
  return (
    <ChartView
      config={config as ChartConfiguration}
      label={`Share of ${metric === "time" ? "session time" : "sessions"} by user. ${summary}`}
      testId="activity-pie"
      points={data.length}
      height={320}
    />
  );
}
