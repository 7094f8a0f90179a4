import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { awaitAcks, majority, type Attempt } from '#shared/storage/acks.js';
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
