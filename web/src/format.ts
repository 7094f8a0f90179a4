/** Formatting for people: sizes, dates, durations, modes. */

/** IEC units: the multiples are powers of 1024, so they are labelled KiB, MiB… (never KB/MB, which mean powers of 1000). */
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.50 KiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  if (bytes < 1024) return `${bytes} B`;
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? Math.round(v) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${UNITS[u]}`;
}

/** Milliseconds → "350 ms", "4.2 s", "3 min 5 s", "2 h 10 min". */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s - m * 60)} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m - h * 60} min`;
}

/** A timestamp as "just now", "5 min ago", "3 h ago", else a short date. */
export function formatRelative(when: string | number | Date | undefined, now: number = Date.now()): string {
  if (when === undefined || when === '') return '—';
  const t = when instanceof Date ? when.getTime() : typeof when === 'number' ? when : Date.parse(when);
  if (!Number.isFinite(t)) return '—';
  const d = now - t;
  if (d < 45_000 && d > -60_000) return 'just now';
  if (d < 3_600_000 && d > 0) return `${Math.round(d / 60_000)} min ago`;
  if (d < 86_400_000 && d > 0) return `${Math.round(d / 3_600_000)} h ago`;
  return formatDate(t);
}

/*
 * One formatter each, made on first use: `toLocaleString` with options builds a new
 * Intl.DateTimeFormat on every call (locale negotiation included), which a list of hundreds of rows
 * pays once per row and per render. The output is the same: both take the browser's locale.
 */
let dateFormat: Intl.DateTimeFormat | undefined;
let timeFormat: Intl.DateTimeFormat | undefined;

export function formatDate(when: string | number | Date): string {
  const d = when instanceof Date ? when : new Date(when);
  if (!Number.isFinite(d.getTime())) return '—';
  dateFormat ??= new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  return dateFormat.format(d);
}

export function formatTime(when: number | string | Date): string {
  const d = when instanceof Date ? when : new Date(when);
  if (!Number.isFinite(d.getTime())) return '—';
  timeFormat ??= new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  return timeFormat.format(d);
}

export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return '—';
  return `${Math.round(Math.max(0, Math.min(1, fraction)) * 100)}%`;
}

export type Mode = 'C' | 'H' | 'A';

export const MODE_NAMES: Record<Mode, string> = { C: 'Strong', H: 'Hybrid', A: 'Available' };

export const MODE_DESCRIPTIONS: Record<Mode, string> = {
  C: 'Writes wait for a majority of replicas.',
  H: 'Writes wait for a majority up to a short deadline, then accept one copy.',
  A: 'Writes are acknowledged by one healthy replica; the rest catch up.',
};

export function modeName(mode: string | undefined): string {
  return mode && mode in MODE_NAMES ? MODE_NAMES[mode as Mode] : 'Unknown';
}
