/** Small, dependency-free statistics for the benchmark. */

export interface Percentiles {
  n: number;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
  mean: number | null;
}

/** Nearest-rank percentile (p in 0..100) of an ascending-sorted array; null when empty. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

export function summarize(values: readonly number[]): Percentiles {
  const s = [...values].sort((a, b) => a - b);
  const sum = s.reduce((a, b) => a + b, 0);
  return {
    n: s.length,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s.length ? (s[s.length - 1] as number) : null,
    mean: s.length ? sum / s.length : null,
  };
}

/** Round for display: integers above 10, one decimal below. */
export function fmt(v: number | null | undefined, unit = ''): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const r = Math.abs(v) >= 10 ? Math.round(v).toString() : (Math.round(v * 10) / 10).toString();
  return `${r}${unit}`;
}

export function pct(num: number, den: number): number | null {
  return den === 0 ? null : (100 * num) / den;
}

export function fmtPct(v: number | null): string {
  if (v === null) return '–';
  if (v === 100 || v === 0) return `${v}%`;
  return `${v >= 99.95 || v < 0.05 ? v.toFixed(2) : v.toFixed(1)}%`;
}
