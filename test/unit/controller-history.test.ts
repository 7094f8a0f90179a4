/**
 * The controller history's rules without I/O: the window of GET /v1/history (defaults, a bad time
 * or a window over 24 h is a 400 naming the field and the cap), the reduction of a long run to at
 * most HISTORY_MAX_POINTS samples that keeps peaks and emergencies, which audit entries are
 * timeline events, the in-memory store's 24 h expiry, and the audit entry of a fault action.
 */
import { describe, expect, it } from 'vitest';
import { BadRequest } from '#shared/errors.js';
import { downsample, eventOf, HISTORY_MAX_POINTS, HISTORY_TTL_MS, historyWindow, type HistorySample } from '#shared/controller/history.js';
import { MemoryControllerStore } from '#shared/controller/memory-store.js';
import { faultAuditOf } from '#local/faults.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const parts = { partition: 0, lag: 0, writes: 0, hint: 0, penalty: 0 };
const sample = (at: number, score = 0.1, emergency = false): HistorySample => ({ at, score, parts, proposed: 'C', mode: 'C', emergency });

function badRequest(fn: () => unknown): BadRequest {
  try {
    fn();
  } catch (err) {
    if (err instanceof BadRequest) return err;
    throw err;
  }
  throw new Error('expected a 400');
}

describe('history window', () => {
  it('defaults to the hour before now and accepts epoch ms or ISO times', () => {
    expect(historyWindow({}, NOW)).toEqual({ from: NOW - 3_600_000, to: NOW });
    expect(historyWindow({ from: '2026-06-01T11:55:00Z', to: String(NOW) }, NOW)).toEqual({ from: NOW - 300_000, to: NOW });
  });

  it('a bad time is a 400 naming the field; a window over 24 h says the cap', () => {
    const bad = badRequest(() => historyWindow({ from: 'yesterday' }, NOW));
    expect(bad.status).toBe(400);
    expect(bad.message).toMatch(/^Field 'from' must be a time/);
    expect(badRequest(() => historyWindow({ to: '2026-13-45T99:00:00Z' }, NOW)).message).toMatch(/^Field 'to' must be a time/);
    expect(badRequest(() => historyWindow({ from: String(NOW), to: String(NOW - 1) }, NOW)).message).toBe("Field 'from' must not be after 'to'.");
    const long = badRequest(() => historyWindow({ from: String(NOW - HISTORY_TTL_MS - 1) }, NOW));
    expect(long.message).toBe("Field 'from' is too far before 'to': a window is at most 24 h (the history is kept 24 h).");
  });
});

describe('downsample', () => {
  it('keeps every sample up to the cap, then one per bucket: the highest score, emergency if any was', () => {
    const w = { from: NOW - 24 * 3_600_000, to: NOW };
    const few = [sample(NOW - 2000), sample(NOW - 1000)];
    expect(downsample(few, w)).toEqual({ samples: few, bucketMs: 0 });
    const many = Array.from({ length: 17_280 }, (_, i) => sample(w.from + i * 5000, 0.1));
    many[5000] = sample(many[5000]!.at, 0.9);
    many[9000] = sample(many[9000]!.at, 0.05, true);
    const r = downsample(many, w);
    expect(r.samples.length).toBeLessThanOrEqual(HISTORY_MAX_POINTS);
    expect(r.bucketMs).toBeGreaterThan(0);
    expect(r.samples.some((s) => s.score === 0.9)).toBe(true);
    expect(r.samples.filter((s) => s.emergency)).toHaveLength(1);
  });
});

describe('timeline events', () => {
  it('mode changes, overrides, keys, hints and faults are events; other audit entries are not', () => {
    const base = { id: 'x', at: NOW, kind: 'operator' as const, actor: 'root@example.com', reason: 'r' };
    expect(eventOf({ ...base, kind: 'transition', actor: 'controller', action: 'emergency_transition', from: 'C', to: 'A' })).toMatchObject({ kind: 'mode_change', from: 'C', to: 'A', emergency: true });
    expect(eventOf({ ...base, action: 'set_override', to: 'H', objectId: 'a.txt' })).toMatchObject({ kind: 'override_set', to: 'H', object_id: 'a.txt' });
    expect(eventOf({ ...base, action: 'inject_fault', detail: { region: 'eu-west-1' } })).toMatchObject({ kind: 'fault_injected', region: 'eu-west-1', actor: 'root@example.com' });
    expect(eventOf({ ...base, action: 'something_else' })).toBeUndefined();
  });

  it('a fault action is audited with its actor: an injection, or a heal when nothing is left', () => {
    const up = { state: 'up' as const, latency_ms: 0, jitter_ms: 0, loss: 0 };
    const hole = { ...up, state: 'blackhole' as const };
    expect(faultAuditOf('eu-west-1', up, hole, 'root@example.com')).toMatchObject({ action: 'inject_fault', actor: 'root@example.com', reason: 'eu-west-1: blackhole', detail: { region: 'eu-west-1' } });
    expect(faultAuditOf('eu-west-1', up, { ...up, latency_ms: 200 }, 'root@example.com')).toMatchObject({ action: 'inject_fault', reason: 'eu-west-1: +200 ms' });
    expect(faultAuditOf('eu-west-1', hole, up, 'root@example.com')).toMatchObject({ action: 'heal_fault', reason: 'eu-west-1 healed (was blackhole)' });
  });
});

describe('memory store history', () => {
  it('answers a window oldest first, keeps the newest past the limit, and forgets samples after 24 h', async () => {
    let now = NOW;
    const store = new MemoryControllerStore({ clock: { now: () => now } });
    for (let i = 0; i < 5; i++) await store.recordSample(sample(NOW - (5 - i) * 1000, i / 10));
    const all = await store.listSamples({ from: NOW - 60_000, to: NOW }, 100);
    expect(all.samples.map((s) => s.score)).toEqual([0, 0.1, 0.2, 0.3, 0.4]);
    expect(await store.listSamples({ from: NOW - 60_000, to: NOW }, 2)).toMatchObject({ samples: [{ score: 0.3 }, { score: 0.4 }], truncated: true });
    now = NOW + HISTORY_TTL_MS;
    expect((await store.listSamples({ from: NOW - 60_000, to: now }, 100)).samples).toHaveLength(0);
  });
});
