import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, formatPercent, formatRelative, modeName } from '../../web/src/format.js';

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

  it('clamps percentages and names modes', () => {
    expect(formatPercent(0.456)).toBe('46%');
    expect(formatPercent(2)).toBe('100%');
    expect(modeName('A')).toBe('Available');
    expect(modeName('C')).toBe('Strong');
    expect(modeName('X')).toBe('Unknown');
  });
});
