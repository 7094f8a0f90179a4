/**
 * The timeline's geometry: the range's x axis has round local-time ticks (seconds only under a
 * minute step), the y axis score ticks 0–1, markers sit at their event's time, and merging a newer
 * read keeps one copy of each sample and event, none older than the range; markers crowded within a
 * few pixels get handles spread apart, so that each can be hovered by itself.
 */
import { describe, expect, it } from 'vitest';
import type { HistoryPoint, TimelineEvent } from '../../web/src/api.js';
import { CHART_BOX, HANDLE_GAP, HANDLE_WIDTH, mergeEvents, mergeSamples, spreadHandles, tickStep, timelineGeometry } from '../../web/src/timeline.js';

const parts = { partition: 0, lag: 0, writes: 0, hint: 0, penalty: 0 };
const pt = (t: number, score: number, mode: 'C' | 'H' | 'A' = 'C'): HistoryPoint => ({ t, score, mode, proposed: mode, emergency: false, parts });
const ev = (id: string, t: number): TimelineEvent => ({ id, t, kind: 'fault_injected', actor: 'root', reason: 'r' });

describe('timeline geometry', () => {
  it('ticks every minute over 5 min, every 3 h over 24 h; a marker sits at its time', () => {
    expect(tickStep(5 * 60_000)).toBe(60_000);
    expect(tickStep(3_600_000)).toBe(10 * 60_000);
    expect(tickStep(24 * 3_600_000)).toBe(6 * 3_600_000);
    const end = Date.parse('2026-06-01T12:00:30Z');
    const g = timelineGeometry({ samples: [pt(end - 200_000, 0.1), pt(end - 100_000, 0.8, 'A')], events: [ev('a', end - 150_000), ev('old', end - 400_000)], end, spanMs: 300_000, thresholds: { strong: 0.3, available: 0.6 } });
    expect(g.xTicks.length).toBeGreaterThanOrEqual(4);
    expect(g.xTicks.every((t) => /^\d\d:\d\d$/.test(t.label))).toBe(true);
    expect(g.yTicks.map((t) => t.label)).toEqual(['0.00', '0.25', '0.50', '0.75', '1.00']);
    expect(g.markers.map((m) => m.event.id)).toEqual(['a']);
    expect(g.markers[0]?.x).toBeCloseTo(CHART_BOX.left + 0.5 * g.plot.width, 0);
    expect(g.bands.map((b) => b.mode)).toEqual(['C', 'A']);
    expect(g.thresholds.map((t) => t.y)).toEqual([g.plot.y + 0.7 * g.plot.height, g.plot.y + 0.4 * g.plot.height].map((v) => Math.round(v * 10) / 10));
  });

  it('merging a newer read keeps one copy of each sample and event, none older than the range', () => {
    expect(mergeSamples([pt(1, 0.1), pt(2, 0.2)], [pt(2, 0.3), pt(3, 0.4)], 2).map((s) => [s.t, s.score])).toEqual([[2, 0.3], [3, 0.4]]);
    expect(mergeEvents([ev('a', 1), ev('b', 5)], [ev('b', 5), ev('c', 6)], 2).map((e) => e.id)).toEqual(['b', 'c']);
  });

  it('spreads crowded marker handles at least a gap apart, in their order, centred on where they crowd; a lone marker stays put', () => {
    const h = spreadHandles([100, 101, 103, 400], 12, 0, 800);
    expect(h).toHaveLength(4);
    for (let i = 1; i < 3; i++) expect(h[i]! - h[i - 1]!).toBeGreaterThanOrEqual(12);
    expect((h[0]! + h[1]! + h[2]!) / 3).toBeCloseTo((100 + 101 + 103) / 3, 0);
    expect(h[3]).toBe(400);
    // Markers already apart keep their places.
    expect(spreadHandles([10, 30, 50], 12, 0, 800)).toEqual([10, 30, 50]);
    // A cluster pushed into its neighbour merges with it, and nothing leaves the plot.
    const edge = spreadHandles([795, 796, 797, 798], 12, 0, 800);
    expect(edge.at(-1)).toBeLessThanOrEqual(800);
    for (let i = 1; i < edge.length; i++) expect(edge[i]! - edge[i - 1]!).toBeGreaterThanOrEqual(12);
    const chain = spreadHandles([100, 105, 118, 122], 12, 0, 800);
    for (let i = 1; i < chain.length; i++) expect(chain[i]! - chain[i - 1]!).toBeGreaterThanOrEqual(12 - 0.1);
    expect(spreadHandles([], 12, 0, 800)).toEqual([]);
  });

  it('gives a fault and the mode change a second later separate handles in the 5-minute chart', () => {
    const end = Date.parse('2026-06-01T12:00:00Z');
    const fault: TimelineEvent = { id: 'f', t: end - 60_000, kind: 'fault_injected', actor: 'root', reason: 'us-east-2: blackhole' };
    const change: TimelineEvent = { id: 'm', t: end - 59_000, kind: 'mode_change', actor: 'controller', reason: 'emergency', from: 'C', to: 'A' };
    const g = timelineGeometry({ samples: [], events: [change, fault], end, spanMs: 300_000, thresholds: { strong: 0.3, available: 0.6 } });
    expect(g.markers.map((m) => m.event.id)).toEqual(['f', 'm']);
    const [a, b] = g.markers;
    expect(Math.abs(b!.x - a!.x)).toBeLessThan(HANDLE_WIDTH); // the lines nearly coincide…
    expect(b!.handleX - a!.handleX).toBeGreaterThanOrEqual(HANDLE_GAP); // …the handles do not
    expect(HANDLE_GAP).toBeGreaterThan(HANDLE_WIDTH);
  });
});
