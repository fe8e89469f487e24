// Sessions per namespace.

import { useMemo } from "react";
import type { ChartConfiguration } from "chart.js";
import type { TargetMetric } from "../api/types";
import { formatCount } from "../format";
import type { Theme } from "../state/theme";
import { ChartView, readPalette } from "./Chart";
import { shorten, topWithOthers } from "./slices";

export const NO_NAMESPACE = "(no namespace)";

export function sessionsByNamespace(targets: readonly TargetMetric[]): Array<{ label: string; value: number }> {
  const totals = new Map<string, number>();
  for (const target of targets) {
    const namespace = target.namespace ?? NO_NAMESPACE;
    totals.set(namespace, (totals.get(namespace) ?? 0) + target.sessionCount);
  }
  return [...totals].map(([label, value]) => ({ label, value }));
}

export function NamespaceChart({ targets, theme }: { targets: readonly TargetMetric[]; theme: Theme }) {
  const data = useMemo(() => topWithOthers(sessionsByNamespace(targets), 12), [targets]);

  const config = useMemo((): ChartConfiguration<"bar"> => {
    const palette = readPalette();
    return {
      type: "bar",
      data: {
        labels: data.map((slice) => shorten(slice.label, 20)),
        datasets: [{ label: "Sessions", data: data.map((slice) => slice.value), backgroundColor: palette.series[3], borderRadius: 4 }],
      },
      options: {
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: (items) => data[items[0]?.dataIndex ?? 0]?.label ?? "",
              label: (item) => `${formatCount(Number(item.raw))} sessions`,
            },
          },
        },
        scales: {
          x: { grid: { display: false } },
          y: { beginAtZero: true, ticks: { precision: 0, callback: (value) => formatCount(Number(value)) } },
        },
      },
    };
  }, [data, theme]);

  if (data.length === 0) return <p className="empty-chart">No sessions in this range.</p>;
  return (
    <ChartView
      config={config as ChartConfiguration}
      label={`Sessions per namespace. ${data.map((slice) => `${slice.label}: ${formatCount(slice.value)}`).join("; ")}`}
      testId="namespace-chart"
      points={data.length}
      height={220}
    />
  );
}
