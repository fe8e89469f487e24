// A thin React wrapper around Chart.js. Only the chart types the dashboard uses are registered,
// which keeps the bundle small. Colours come from the theme's CSS custom properties.

import { useLayoutEffect, useRef } from "react";
import {
  ArcElement,
  BarController,
  BarElement,
  BubbleController,
  CategoryScale,
  Chart,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";

Chart.register(
  ArcElement,
  BarController,
  BarElement,
  BubbleController,
  CategoryScale,
  DoughnutController,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

export interface ChartPalette {
  series: string[];
  text: string;
  grid: string;
  surface: string;
}

/**
 * Reads the current theme's chart colours. Chart components list the theme among the
 * dependencies of their config so the colours are read again after a switch.
 */
export function readPalette(): ChartPalette {
  const style = getComputedStyle(document.documentElement);
  const value = (name: string, fallback: string) => style.getPropertyValue(name).trim() || fallback;
  return {
    series: [1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => value(`--chart-${i}`, "#7f56d9")),
    text: value("--text-muted", "#555"),
    grid: value("--border", "#ddd"),
    surface: value("--surface", "#fff"),
  };
}

export function applyChartDefaults(palette: ChartPalette): void {
  Chart.defaults.color = palette.text;
  Chart.defaults.borderColor = palette.grid;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  // Drawing at once keeps the page still and makes "rendered" mean "visible".
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
}

interface ChartViewProps {
  config: ChartConfiguration;
  /** Spoken description of the chart for screen readers. */
  label: string;
  testId: string;
  /** Number of data points drawn, exposed for browser tests. */
  points: number;
  height?: number;
}

export function ChartView({ config, label, testId, points, height = 260 }: ChartViewProps) {
  const canvas = useRef<HTMLCanvasElement>(null);

  // Layout effect: the chart is drawn in the same commit that marks the dashboard as ready.
  useLayoutEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, config);
    return () => chart.destroy();
  }, [config]);

  return (
    <div className="chart" style={{ height }} data-testid={testId} data-points={points}>
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}
