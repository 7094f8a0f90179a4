import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { awaitAcks, majority, type AckOutcome, type Attempt } from '#shared/storage/acks.js';
import { mayLandBy, stragglersWithin } from '#shared/storage/chunk-writer.js';
import { HealthTracker } from '#shared/controller/health.js';
import type { Mode } from '#shared/config.js';

const ok = (region: string): Attempt => ({ region, done: Promise.resolve() });
const fail = (region: string): Attempt => ({ region, done: Promise.reject(new Error(`${region} refused`)) });
const never = (region: string): Attempt => ({ region, done: new Promise<void>(() => undefined) });

describe('ack policy by mode', () => {
  it('majority is floor(N/2)+1', () => {
    expect([1, 2, 3, 4, 5].map(majority)).toEqual([1, 2, 2, 3, 3]);
  });

  it('is satisfied exactly when the mode allows it, for any mix of settled outcomes (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.boolean(), { minLength: 1, maxLength: 7 }), fc.constantFrom<Mode>('C', 'H', 'A'), fc.nat(2), async (outcomes, mode, present) => {
        const n = outcomes.length + present;
        const attempts = outcomes.map((good, i) => (good ? ok(`r${i}`) : fail(`r${i}`)));
        const r = await awaitAcks(attempts, { mode, replicas: n, alreadyPresent: present, hybridDeadlineMs: 5 });
        const have = outcomes.filter(Boolean).length + present;
        const expected = mode === 'C' ? have >= majority(n) : have >= 1;
        expect(r.satisfied).toBe(expected);
        if (r.satisfied && mode === 'C') expect(r.acked.length + present).toBeGreaterThanOrEqual(majority(n));
      }),
      { numRuns: 300 },
    );
  });

  it('strong fails as soon as a majority has become impossible, without waiting for a hung replica', async () => {
    const r = await awaitAcks([fail('a'), fail('b'), never('c')], { mode: 'C', replicas: 3, alreadyPresent: 0, hybridDeadlineMs: 0 });
    expect(r.satisfied).toBe(false);
    expect(r.inFlight).toEqual(['c']);
  });

  it('strong and available are acknowledged without waiting for a hung replica once they have enough', async () => {
    const c = await awaitAcks([ok('a'), ok('b'), never('c')], { mode: 'C', replicas: 3, alreadyPresent: 0, hybridDeadlineMs: 0 });
    expect(c).toMatchObject({ satisfied: true, degraded: false, inFlight: ['c'] });
    const a = await awaitAcks([ok('a'), never('b'), never('c')], { mode: 'A', replicas: 3, alreadyPresent: 0, hybridDeadlineMs: 0 });
    expect(a).toMatchObject({ satisfied: true, degraded: true, acked: ['a'] });
  });

  it('hybrid waits for the deadline, then accepts one ack', async () => {
    const r = await awaitAcks([ok('a'), never('b'), never('c')], { mode: 'H', replicas: 3, alreadyPresent: 0, hybridDeadlineMs: 10 });
    expect(r).toMatchObject({ satisfied: true, degraded: true, acked: ['a'] });
  });
});

describe("a strong write's wait for its last copies (chunk writer)", () => {
  const decided: AckOutcome = { satisfied: true, degraded: false, acked: ['a', 'b'], failed: {}, inFlight: ['c'] };
  /** Resolves with 'waited' if `p` has not settled after `ms`: far shorter than the grace the tests give. */
  const settlesWithin = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'waited'>((r) => setTimeout(() => r('waited'), ms))]);

  it('records a copy that lands within the grace as held, and waits for one that may land', async () => {
    let land!: () => void;
    const c: Attempt = { region: 'c', done: new Promise<void>((r) => (land = r)) };
    const waiting = stragglersWithin([ok('a'), ok('b'), c], decided, 60_000, () => true);
    expect(await settlesWithin(waiting, 200), 'a copy that may land is waited for').toBe('waited');
    land();
    expect(await waiting).toMatchObject({ acked: ['a', 'b', 'c'], inFlight: [] });
  });

  it('does not wait at all for a copy the health picture says cannot land within the grace', async () => {
    const r = await settlesWithin(stragglersWithin([ok('a'), ok('b'), never('c')], decided, 60_000, (region) => region !== 'c'), 2_000);
    expect(r, 'answered without the 60 s grace').toEqual(decided);
  });

  it('a copy may land unless its region is judged unreachable or usually answers after the grace ends; a region never measured may', () => {
    const health = new HealthTracker(['fast', 'slow', 'down', 'new']);
    for (let i = 0; i < 3; i++) {
      health.observe('fast', { ok: true, latencyMs: 8 });
      health.observe('slow', { ok: true, latencyMs: 210 });
      health.observe('down', { ok: false, latencyMs: 3000, error: 'timed out' });
    }
    const sink = { observe: () => undefined, ranked: (rs: readonly string[]) => health.ranked(rs), latency: (r: string) => health.ewma(r) };
    expect(['fast', 'slow', 'down', 'new'].filter((r) => mayLandBy(sink, r, 30))).toEqual(['fast', 'new']);
    expect(mayLandBy(sink, 'slow', 250), 'the slow one may, given long enough').toBe(true);
  });
});
