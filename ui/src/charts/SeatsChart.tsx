// Machines with a session per day against the seats bought; days over the cap stand out.

import { useMemo } from "react";
import type { ChartConfiguration } from "chart.js";
import type { TrendBucket, TrendInterval } from "../api/types";
import { formatBucketLabel, formatCount } from "../format";
import type { Theme } from "../state/theme";
import { ChartView, readPalette } from "./Chart";

interface SeatsChartProps {
  buckets: readonly TrendBucket[];
  interval: TrendInterval;
  licenses: number | null;
  theme: Theme;
}

export function SeatsChart({ buckets, interval, licenses, theme }: SeatsChartProps) {
  const config = useMemo((): ChartConfiguration<"bar" | "line"> => {
    const palette = readPalette();
    const over = (b: TrendBucket) => licenses != null && b.activeUsers > licenses;
    const datasets: ChartConfiguration<"bar" | "line">["data"]["datasets"] = [
      {
        type: "bar",
        label: `Machines per ${interval}`,
        data: buckets.map((b) => b.activeUsers),
        backgroundColor: buckets.map((b) => (over(b) ? palette.series[4] : palette.series[0])),
        borderRadius: 3,
      },
    ];
    if (licenses != null) {
      datasets.push({
        type: "line",
        label: "Seats bought",
        data: buckets.map(() => licenses),
        borderColor: palette.series[2],
        borderDash: [6, 4],
        pointRadius: 0,
      });
    }
    return {
      type: "bar",
      data: { labels: buckets.map((b) => formatBucketLabel(b.start, interval)), datasets },
      options: {
        plugins: { legend: { display: licenses != null } },
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, ticks: { precision: 0, callback: (value) => formatCount(Number(value)) } },
        },
      },
    };
  }, [buckets, interval, licenses, theme]);

  if (buckets.length === 0) return <p className="empty-chart">No sessions in this range.</p>;
  const overDays = licenses == null ? 0 : buckets.filter((b) => b.activeUsers > licenses).length;
  return (
    <ChartView
      config={config as ChartConfiguration}
      label={`Machines with a user session per ${interval}${licenses != null ? ` against ${formatCount(licenses)} seats bought; over the cap in ${overDays}` : ""}`}
      testId="seats-chart"
      points={buckets.length}
      height={260}
    />
  );
}
