// A small trend line under a figure. Decorative: the figure and its comparison carry the meaning.

interface SparklineProps {
  values: readonly number[];
  testId: string;
}

const WIDTH = 120;
const HEIGHT = 28;

export function sparklinePoints(values: readonly number[], width = WIDTH, height = HEIGHT): string {
  if (values.length === 0) return "";
  const max = Math.max(...values, 0);
  const step = values.length > 1 ? width / (values.length - 1) : 0;
  return values
    .map((value, i) => {
      const y = max > 0 ? height - 1 - (value / max) * (height - 2) : height - 1;
      return `${(i * step).toFixed(1)},${y.toFixed(1)}`;
    })
    .join(" ");
}

export function Sparkline({ values, testId }: SparklineProps) {
  if (values.length < 2) return null;
  return (
    <svg
      className="sparkline"
      viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
      preserveAspectRatio="none"
      aria-hidden="true"
      focusable="false"
      data-testid={testId}
      data-points={values.length}
    >
      <polyline points={sparklinePoints(values)} fill="none" stroke="currentColor" strokeWidth="1.5" vectorEffect="non-scaling-stroke" />
    </svg>
  );
}
