/** Small pure helpers the views share: times, durations, safe links (labels come from domain/jobView). */

/** "2025-01-02 13:04:05 UTC": unambiguous, sortable, the same on every screen. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function formatShortTime(iso: string | null | undefined): string {
  const full = formatTime(iso);
  return full.endsWith(' UTC') ? full.slice(0, 16) : full;
}

/** "1h 02m", "3m 05s", "12s", "450 ms". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${String(m % 60).padStart(2, '0')}m`;
}

export function durationBetween(start: string | null | undefined, end: string | null | undefined): string {
  if (!start || !end) return '';
  return formatDuration(new Date(end).getTime() - new Date(start).getTime());
}

/** The value when it is an absolute http(s) URL, else null: nothing else is ever rendered as a link. */
export function httpUrl(value: unknown): string | null {
  // Checked before parsing: most values shown (instance ids, IPs) are no URL, and a failed parse throws, which is slow.
  if (typeof value !== 'string' || !/^https?:\/\//i.test(value)) return null;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : null;
  } catch {
    return null;
  }
}
