import { describe, expect, it } from 'vitest';
import { formatBytes, formatDate, formatDuration, formatPercent, formatRelative, formatTime, modeName } from '../../web/src/format.js';

describe('formatting for people', () => {
  it('formats sizes with binary multiples', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.00 MiB');
    expect(formatBytes(25.5 * 1024 * 1024)).toBe('25.5 MiB');
    expect(formatBytes(-1)).toBe('—');
  });

  it('formats durations from milliseconds to hours', () => {
    expect(formatDuration(350)).toBe('350 ms');
    expect(formatDuration(4200)).toBe('4.2 s');
    expect(formatDuration(185_000)).toBe('3 min 5 s');
    expect(formatDuration(2 * 3_600_000 + 600_000)).toBe('2 h 10 min');
    expect(formatDuration(undefined)).toBe('—');
  });

  it('formats times relative to now', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    expect(formatRelative('2026-01-01T11:59:50Z', now)).toBe('just now');
    expect(formatRelative('2026-01-01T11:55:00Z', now)).toBe('5 min ago');
    expect(formatRelative('2026-01-01T09:00:00Z', now)).toBe('3 h ago');
    expect(formatRelative('not a date', now)).toBe('—');
  });

  it('formats dates and times as the locale-aware Date methods do, from formatters made once', () => {
    const samples = ['2026-01-01T11:59:50Z', '1999-12-31T23:59:59.999Z', '2026-07-04T00:00:00Z', Date.parse('2030-02-28T13:45:12Z'), new Date(0)];
    for (const when of samples) {
      const d = new Date(when);
      expect(formatDate(when)).toBe(d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }));
      expect(formatTime(when)).toBe(d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' }));
    }
    expect(formatDate('not a date')).toBe('—');
    expect(formatTime(Number.NaN)).toBe('—');
    // Older than a day: the relative form falls back to the same date.
    expect(formatRelative('2025-12-01T08:30:00Z', Date.parse('2026-01-01T12:00:00Z'))).toBe(formatDate('2025-12-01T08:30:00Z'));
  });

  it('clamps percentages and names modes', () => {
    expect(formatPercent(0.456)).toBe('46%');
    expect(formatPercent(2)).toBe('100%');
    expect(modeName('A')).toBe('Available');
    expect(modeName('C')).toBe('Strong');
    expect(modeName('X')).toBe('Unknown');
  });
});
