// A scatter of items (users or targets) on two measures, each a bubble sized by a third.

import { useMemo } from "react";
import type { ChartConfiguration } from "chart.js";
import type { Theme } from "../state/theme";
import { ChartView, readPalette } from "./Chart";

export interface Bubble {
  label: string;
  x: number;
  y: number;
  /** What the bubble's area stands for (not yet scaled). */
  size: number;
}

interface BubbleChartProps {
  bubbles: readonly Bubble[];
  xTitle: string;
  yTitle: string;
  formatX: (value: number) => string;
  formatY: (value: number) => string;
  describe: (bubble: Bubble) => string;
  label: string;
  testId: string;
  theme: Theme;
}

const MAX_RADIUS = 18;

/** Radii proportional to the square root of the size, so areas compare like the sizes do. */
export function bubbleRadii(sizes: readonly number[], maxRadius = MAX_RADIUS): number[] {
  const largest = Math.max(0, ...sizes);
  return sizes.map((size) => (largest > 0 ? Math.max(2, Math.sqrt(Math.max(0, size) / largest) * maxRadius) : 2));
}

export function BubbleChart({ bubbles, xTitle, yTitle, formatX, formatY, describe, label, testId, theme }: BubbleChartProps) {
  const config = useMemo((): ChartConfiguration<"bubble"> => {
    const palette = readPalette();
    const radii = bubbleRadii(bubbles.map((b) => b.size));
    return {
      type: "bubble",
      data: {
        datasets: [
          {
            label,
            data: bubbles.map((b, i) => ({ x: b.x, y: b.y, r: radii[i] ?? 2 })),
            backgroundColor: `${palette.series[0]}88`,
            borderColor: palette.series[0],
          },
        ],
      },
      options: {
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { label: (item) => describe(bubbles[item.dataIndex]!) } },
        },
        scales: {
          x: { beginAtZero: true, title: { display: true, text: xTitle }, ticks: { callback: (value) => formatX(Number(value)) } },
          y: { beginAtZero: true, title: { display: true, text: yTitle }, ticks: { callback: (value) => formatY(Number(value)) } },
        },
      },
    };
  }, [bubbles, xTitle, yTitle, formatX, formatY, describe, label, theme]);

  if (bubbles.length === 0) return <p className="empty-chart">No sessions in this range.</p>;
  return <ChartView config={config as ChartConfiguration} label={`${label}: ${bubbles.length} points`} testId={testId} points={bubbles.length} height={300} />;
}
