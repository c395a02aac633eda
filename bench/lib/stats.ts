/** Small statistics helpers; percentiles interpolate linearly between ranks. */

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return percentileSorted(sorted, p);
}

export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo);
}

export const median = (values: readonly number[]) => percentile(values, 50);

export function max(values: readonly number[]): number {
  return values.reduce((m, v) => Math.max(v, m), Number.NEGATIVE_INFINITY);
}

export function sum(values: readonly number[]): number {
  return values.reduce((s, v) => s + v, 0);
}

export const sec = (ms: number, digits = 2) => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(digits)} s` : 'n/a');
export const msFmt = (ms: number, digits = 1) => (Number.isFinite(ms) ? `${ms.toFixed(digits)} ms` : 'n/a');
export const mb = (v: number | undefined) => (v !== undefined && Number.isFinite(v) ? `${v.toFixed(0)} MB` : 'n/a');
export const int = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : 'n/a');
