/**
 * The dashboard timeline's data and geometry, pure (tested without a browser): merging the
 * server's history (GET /v1/history) with newer polls, the time ranges offered, axis ticks with
 * units, mode bands, the score line and the event markers.
 */
import type { HistoryPoint, TimelineEvent } from './api.js';
import type { Mode } from './format.js';

export interface TimeRange {
  label: string;
  ms: number;
}

export const RANGES: readonly TimeRange[] = [
  { label: '5 min', ms: 5 * 60_000 },
  { label: '1 h', ms: 3_600_000 },
  { label: '24 h', ms: 24 * 3_600_000 },
];

/** Samples by time (a newer copy of the same instant wins), oldest first, none before `since`. */
export function mergeSamples(a: readonly HistoryPoint[], b: readonly HistoryPoint[], since: number): HistoryPoint[] {
  const byT = new Map<number, HistoryPoint>();
  for (const s of [...a, ...b]) if (s.t >= since) byT.set(s.t, s);
  return [...byT.values()].sort((x, y) => x.t - y.t);
}

/** Events by id, oldest first, none before `since`. */
export function mergeEvents(a: readonly TimelineEvent[], b: readonly TimelineEvent[], since: number): TimelineEvent[] {
  const byId = new Map<string, TimelineEvent>();
  for (const e of [...a, ...b]) if (e.t >= since) byId.set(e.id, e);
  return [...byId.values()].sort((x, y) => x.t - y.t);
}

export interface Box {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export const CHART_BOX: Box = { width: 800, height: 230, left: 44, right: 12, top: 14, bottom: 30 };

export interface Tick {
  value: number;
  pos: number;
  label: string;
}

export interface Marker {
  event: TimelineEvent;
  /** Where the event is on the time axis. */
  x: number;
  /** Where its handle (the hover target above the plot) is drawn: spread apart from its neighbours. */
  handleX: number;
}

/** Width of a marker's handle, and the least distance between two handles' centres. */
export const HANDLE_WIDTH = 10;
export const HANDLE_GAP = 12;

/**
 * Handle positions for markers at `xs` (ascending), so that no two handles are closer than `gap`
 * and each can be hovered by itself: markers that crowd together are laid side by side, in their
 * order, centred on their mean position, within [lo, hi]; a marker with room stays where it is.
 */
export function spreadHandles(xs: readonly number[], gap: number, lo: number, hi: number): number[] {
  interface Cluster {
    n: number;
    sum: number;
  }
  const start = (c: Cluster) => {
    const width = (c.n - 1) * gap;
    return Math.max(lo, Math.min(hi - width, c.sum / c.n - width / 2));
  };
  const clusters: Cluster[] = [];
  for (const x of xs) {
    clusters.push({ n: 1, sum: x });
    // Merge with the cluster before while the two would overlap.
    for (;;) {
      const b = clusters[clusters.length - 1]!;
      const a = clusters[clusters.length - 2];
      if (!a || start(b) - (start(a) + (a.n - 1) * gap) >= gap) break;
      clusters.splice(clusters.length - 2, 2, { n: a.n + b.n, sum: a.sum + b.sum });
    }
  }
  return clusters.flatMap((c) => Array.from({ length: c.n }, (_, i) => r1(start(c) + i * gap)));
}

export interface TimelineGeometry {
  plot: { x: number; y: number; width: number; height: number };
  bands: { mode: Mode; x: number; width: number }[];
  scorePath: string;
  points: { x: number; y: number; sample: HistoryPoint }[];
  xTicks: Tick[];
  yTicks: Tick[];
  thresholds: { value: number; y: number }[];
  markers: Marker[];
}

const STEPS = [10_000, 30_000, 60_000, 2 * 60_000, 5 * 60_000, 10 * 60_000, 15 * 60_000, 30 * 60_000, 3_600_000, 2 * 3_600_000, 3 * 3_600_000, 6 * 3_600_000];

/** A round tick step giving at most `max` ticks over `spanMs`. */
export function tickStep(spanMs: number, max = 7): number {
  return STEPS.find((s) => spanMs / s <= max) ?? 12 * 3_600_000;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** A tick's label in local time: HH:MM, with seconds when the step is under a minute. */
export function tickLabel(t: number, stepMs: number): string {
  const d = new Date(t);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return stepMs < 60_000 ? `${hm}:${pad(d.getSeconds())}` : hm;
}

const r1 = (v: number) => Math.round(v * 10) / 10;

/**
 * Lay the samples and events of [end − spanMs, end] out in `box`: time on x (local-time ticks),
 * score 0..1 on y. A sample's mode colours the interval that ends at it.
 */
export function timelineGeometry(o: { samples: readonly HistoryPoint[]; events: readonly TimelineEvent[]; end: number; spanMs: number; thresholds: { strong: number; available: number }; box?: Box }): TimelineGeometry {
  const box = o.box ?? CHART_BOX;
  const plot = { x: box.left, y: box.top, width: box.width - box.left - box.right, height: box.height - box.top - box.bottom };
  const start = o.end - o.spanMs;
  const xs = (t: number) => r1(plot.x + Math.max(0, Math.min(1, (t - start) / o.spanMs)) * plot.width);
  const ys = (v: number) => r1(plot.y + (1 - Math.max(0, Math.min(1, v))) * plot.height);
  const visible = o.samples.filter((s) => s.t >= start && s.t <= o.end);
  const points = visible.map((s) => ({ x: xs(s.t), y: ys(s.score), sample: s }));
  const scorePath = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x} ${p.y}`).join(' ');
  const bands: TimelineGeometry['bands'] = [];
  points.forEach((p, i) => {
    const from = i === 0 ? p.x : (points[i - 1]?.x ?? p.x);
    const prev = bands[bands.length - 1];
    if (prev && prev.mode === p.sample.mode) prev.width = r1(p.x - prev.x);
    else bands.push({ mode: p.sample.mode, x: from, width: r1(p.x - from) });
  });
  const step = tickStep(o.spanMs);
  const xTicks: Tick[] = [];
  // Ticks on round local times (the offset keeps hour ticks on the hour in any time zone).
  const offset = new Date(o.end).getTimezoneOffset() * 60_000;
  for (let t = Math.ceil((start - offset) / step) * step + offset; t <= o.end; t += step) xTicks.push({ value: t, pos: xs(t), label: tickLabel(t, step) });
  const yTicks: Tick[] = [0, 0.25, 0.5, 0.75, 1].map((v) => ({ value: v, pos: ys(v), label: v.toFixed(2) }));
  const thresholds = [o.thresholds.strong, o.thresholds.available].map((value) => ({ value, y: ys(value) }));
  const inRange = o.events.filter((e) => e.t >= start && e.t <= o.end).map((event) => ({ event, x: xs(event.t) })).sort((a, b) => a.x - b.x || a.event.t - b.event.t);
  const handles = spreadHandles(inRange.map((m) => m.x), HANDLE_GAP, plot.x, plot.x + plot.width);
  const markers = inRange.map((m, i) => ({ ...m, handleX: handles[i] ?? m.x }));
  return { plot, bands, scorePath, points, xTicks, yTicks, thresholds, markers };
}

/** The sample nearest to x (plot coordinates), for the hover tooltip. */
export function nearestPoint<T extends { x: number }>(points: readonly T[], x: number): T | undefined {
  let best: T | undefined;
  for (const p of points) if (!best || Math.abs(p.x - x) < Math.abs(best.x - x)) best = p;
  return best;
}

export const EVENT_LABELS: Record<TimelineEvent['kind'], string> = {
  mode_change: 'Mode change',
  override_set: 'Override set',
  override_cleared: 'Override cleared',
  critical_key_added: 'Critical key added',
  critical_key_removed: 'Critical key removed',
  hint_set: 'Hint set',
  fault_injected: 'Fault injected',
  fault_healed: 'Fault healed',
};

/** One line describing an event (tooltips and the event list). */
export function describeEvent(e: TimelineEvent): string {
  const change = e.kind === 'mode_change' && e.to ? ` ${e.from ?? '·'} → ${e.to}${e.emergency ? ' (emergency)' : ''}` : '';
  return `${EVENT_LABELS[e.kind]}${change}: ${e.reason} · by ${e.actor}`;
}
