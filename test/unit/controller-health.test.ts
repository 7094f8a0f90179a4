import { describe, expect, it } from 'vitest';
import { HealthTracker, percentile } from '#shared/controller/health.js';

function tracker(regions = ['us-east-1', 'eu-west-1', 'ap-southeast-1']) {
  let t = 1000;
  const h = new HealthTracker(regions, { clock: { now: () => t } });
  return { h, advance: (ms = 100) => (t += ms) };
}
const ok = (latencyMs: number) => ({ ok: true, latencyMs });
const fail = { ok: false, latencyMs: 2000, error: 'timed out' };

describe('replica health tracker', () => {
  it('one lost probe does not flip a replica to unreachable', () => {
    const { h } = tracker();
    h.observe('eu-west-1', ok(10));
    h.observe('eu-west-1', fail);
    expect(h.isReachable('eu-west-1')).toBe(true);
    h.observe('eu-west-1', ok(10));
    h.observe('eu-west-1', fail);
    expect(h.isReachable('eu-west-1')).toBe(true);
  });

  it('two consecutive failures make it unreachable; two successes bring it back', () => {
    const { h } = tracker();
    h.observe('eu-west-1', fail);
    h.observe('eu-west-1', fail);
    expect(h.isReachable('eu-west-1')).toBe(false);
    h.observe('eu-west-1', ok(10));
    expect(h.isReachable('eu-west-1')).toBe(false);
    h.observe('eu-west-1', ok(10));
    expect(h.isReachable('eu-west-1')).toBe(true);
  });

  it('ranks reachable replicas by latency EWMA, unmeasured last, unreachable excluded', () => {
    const { h } = tracker();
    h.observe('us-east-1', ok(50));
    h.observe('eu-west-1', ok(5));
    h.observe('ap-southeast-1', fail);
    expect(h.ranked(['us-east-1', 'eu-west-1', 'ap-southeast-1'])).toEqual(['eu-west-1', 'us-east-1', 'ap-southeast-1']);
    h.observe('ap-southeast-1', fail);
    expect(h.ranked(['us-east-1', 'eu-west-1', 'ap-southeast-1'])).toEqual(['eu-west-1', 'us-east-1']);
    expect(h.ranked(['new-region-1', 'eu-west-1'])).toEqual(['eu-west-1', 'new-region-1']);
  });

  it('computes EWMA, percentiles and error rate over the window', () => {
    const { h } = tracker();
    for (const ms of [10, 20, 30, 40, 100]) h.observe('us-east-1', ok(ms));
    h.observe('us-east-1', fail);
    const s = h.snapshot('us-east-1');
    expect(s.p50Ms).toBe(30);
    expect(s.p95Ms).toBe(100);
    expect(s.errorRate).toBeCloseTo(1 / 6, 9);
    expect(s.ewmaMs).toBeGreaterThan(10);
    expect(s.ewmaMs).toBeLessThan(100);
    expect(percentile([], 50)).toBeUndefined();
  });

  it('adopts a newer shared picture but keeps its own newer observations', () => {
    const a = tracker();
    a.h.observe('eu-west-1', fail);
    a.h.observe('eu-west-1', fail);
    const shared = a.h.snapshots();
    const b = tracker();
    b.advance(-500); // b's clock is behind: the shared snapshot is newer
    b.h.observe('us-east-1', ok(5));
    b.h.adopt(shared);
    expect(b.h.isReachable('eu-west-1')).toBe(false);
    const c = tracker();
    c.advance(10_000);
    c.h.observe('eu-west-1', ok(5)); // newer than the shared picture
    c.h.adopt(shared);
    expect(c.h.isReachable('eu-west-1')).toBe(true);
  });

  it('counts recent writes', () => {
    const { h, advance } = tracker();
    h.recordWrite();
    h.recordWrite();
    advance(70_000);
    h.recordWrite();
    expect(h.writesSince(60_000)).toBe(1);
  });
});
