/**
 * The dashboard's client-side history of controller samples (mode and score over time) and the
 * geometry of its timeline chart. Pure functions, so the chart is tested without a browser.
 */
import type { Mode } from './format.js';

export interface Sample {
  t: number;
  mode: Mode;
  score: number;
}

/** Append a sample, dropping those older than `windowMs` before the newest and keeping at most `max`. */
export function pushSample(history: readonly Sample[], s: Sample, windowMs = 10 * 60_000, max = 600): Sample[] {
  const out = [...history.filter((h) => h.t < s.t), s];
  const cutoff = s.t - windowMs;
  const kept = out.filter((h) => h.t >= cutoff);
  return kept.length > max ? kept.slice(kept.length - max) : kept;
}

export interface ModeBand {
  mode: Mode;
  x: number;
  width: number;
}

export interface ChartGeometry {
  /** SVG path of the score line. */
  scorePath: string;
  /** Background bands, one per run of the same mode; a sample's mode covers the interval ending at it. */
  bands: ModeBand[];
  /** y of the score thresholds. */
  thresholds: { value: number; y: number }[];
  last?: { x: number; y: number };
}

/**
 * Map samples onto a width×height box: time on x over the last `spanMs`, score 0..1 on y (up).
 * Thresholds are the score boundaries (defaults 0.3 and 0.6).
 */
export function chartGeometry(samples: readonly Sample[], width: number, height: number, spanMs: number, thresholds: readonly number[] = [0.3, 0.6]): ChartGeometry {
  const ys = (v: number) => Math.round((height - Math.max(0, Math.min(1, v)) * height) * 10) / 10;
  const th = thresholds.map((value) => ({ value, y: ys(value) }));
  if (samples.length === 0) return { scorePath: '', bands: [], thresholds: th };
  const end = samples[samples.length - 1]?.t ?? 0;
  const start = end - spanMs;
  const xs = (t: number) => Math.round(Math.max(0, ((t - start) / spanMs) * width) * 10) / 10;
  const visible = samples.filter((s) => s.t >= start);
  const before = samples.filter((s) => s.t < start).pop();
  const pts = (before ? [{ ...before, t: start }, ...visible] : visible).map((s) => ({ x: xs(s.t), y: ys(s.score), mode: s.mode }));
  const scorePath = pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x} ${p.y}`).join(' ');
  // A sample's mode colours the interval that ends at it (what was observed since the previous one).
  const bands: ModeBand[] = [];
  pts.forEach((p, i) => {
    const startX = i === 0 ? p.x : (pts[i - 1]?.x ?? p.x);
    const prev = bands[bands.length - 1];
    if (prev && prev.mode === p.mode) prev.width = Math.round((p.x - prev.x) * 10) / 10;
    else bands.push({ mode: p.mode, x: startX, width: Math.round((p.x - startX) * 10) / 10 });
  });
  const lastPt = pts[pts.length - 1];
  return { scorePath, bands, thresholds: th, ...(lastPt ? { last: { x: lastPt.x, y: lastPt.y } } : {}) };
}

/**
 * Rebuild a starting history from the controller's own recent samples (score and time only): a
 * sample at or after the last change took the current mode, an earlier one the mode before it.
 */
export function seedHistory(
  samples: readonly { t: number; score: number }[],
  current: Mode,
  lastChange?: { at: number; from?: Mode },
): Sample[] {
  return [...samples]
    .sort((a, b) => a.t - b.t)
    .map((s) => ({ t: s.t, score: s.score, mode: lastChange && s.t < lastChange.at && lastChange.from ? lastChange.from : current }));
}
