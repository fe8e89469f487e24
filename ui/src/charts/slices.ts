// Chart data shaping that does not need a canvas: top N with the rest folded into "Others".

export interface Slice {
  label: string;
  value: number;
}

export function topWithOthers(slices: readonly Slice[], n: number): Slice[] {
  const sorted = [...slices].filter((s) => s.value > 0).sort((a, b) => b.value - a.value);
  if (sorted.length <= n) return sorted;
  const rest = sorted.slice(n).reduce((sum, s) => sum + s.value, 0);
  return [...sorted.slice(0, n), { label: "Others", value: rest }];
}

/** Shortens long labels for chart axes; the tooltip shows the full text. */
export function shorten(label: string, max = 28): string {
  return label.length <= max ? label : `${label.slice(0, max - 1)}…`;
}
