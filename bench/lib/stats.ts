/**
 * Summary statistics for the benchmark: percentiles by linear interpolation between order
 * statistics (the common "type 7" definition), so p50 of an even-sized sample is the mean of the
 * middle two. With N = 20, p95 sits between the 19th and 20th values: read it as "the slow end".
 */

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  return a + (b - a) * (pos - lo);
}

export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const mean = s.length === 0 ? Number.NaN : s.reduce((a, b) => a + b, 0) / s.length;
  return {
    n: s.length,
    min: s[0] ?? Number.NaN,
    p50: percentile(s, 0.5),
    p95: percentile(s, 0.95),
    p99: percentile(s, 0.99),
    max: s[s.length - 1] ?? Number.NaN,
    mean,
  };
}

/** a / b, or NaN when either is missing or b is 0. */
export function ratio(a: number, b: number): number {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : Number.NaN;
}

/** Rounds for the report: ms and percentages to 0.1 below 100, integers above. */
export function round(x: number, digits?: number): number {
  if (!Number.isFinite(x)) return x;
  const d = digits ?? (Math.abs(x) < 100 ? 1 : 0);
  const f = 10 ** d;
  return Math.round(x * f) / f;
}

/** Every figure of a summary rounded (see `round`). */
export function roundSummary(s: Summary, digits?: number): Summary {
  return {
    n: s.n,
    min: round(s.min, digits),
    p50: round(s.p50, digits),
    p95: round(s.p95, digits),
    p99: round(s.p99, digits),
    max: round(s.max, digits),
    mean: round(s.mean, digits),
  };
}
