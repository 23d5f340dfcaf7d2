/** The q-th percentile (0–100) of `values`, nearest rank; NaN when there are none. */
export function percentile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))]!;
}

export const round = (value: number, digits = 1) => Number.isFinite(value) ? Number(value.toFixed(digits)) : null;
