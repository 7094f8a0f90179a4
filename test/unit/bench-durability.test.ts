import { describe, expect, it } from 'vitest';
import type { ReplicaFiles } from '../../bench/replicas.js';
import { DurabilityTracker } from '../../bench/runner.js';
import { waitFor } from '../helpers/wait.js';

/** Replica disks whose copy counts the test sets by hand. */
function disks(initial: Record<string, number> = {}): { files: ReplicaFiles; set(hash: string, n: number): void } {
  const counts = new Map(Object.entries(initial));
  const files = { copies: async (hash: string) => counts.get(hash) ?? 0 } as unknown as ReplicaFiles;
  return { files, set: (hash, n) => void counts.set(hash, n) };
}

describe('bench durability window (3 replicas, majority 2)', () => {
  it('a write the server acknowledged on one replica opens a window even when the other copies are on disk by the time the answer is read', async () => {
    const d = disks({ a: 3 });
    const t = new DurabilityTracker(d.files, 2, 3);
    t.ack('a', 1);
    const s = await t.finish();
    expect(s.underMajorityAtAck).toBe(1);
    // Measured from the ack to the check that found the majority, not taken as 0.
    expect(s.window.n).toBe(1);
    expect(s.window.max as number).toBeGreaterThanOrEqual(0);
    expect(s.stillUnderMajority).toBe(0);
    expect(s.claimedNotFound).toBe(0);
  });

  it('a write acknowledged by a majority whose copies are on disk has a window of 0', async () => {
    const d = disks({ b: 2 });
    const t = new DurabilityTracker(d.files, 2, 3);
    t.ack('b', 2);
    const s = await t.finish();
    expect(s).toMatchObject({ underMajorityAtAck: 0, claimedNotFound: 0, stillUnderMajority: 0 });
    expect(s.window.max).toBe(0);
  });

  it('a write acknowledged by a majority but missing from the disks is reported, and its window stays open until the copies appear', async () => {
    const d = disks({ c: 1 });
    const t = new DurabilityTracker(d.files, 2, 3);
    t.ack('c', 3);
    // The first check sees one copy: the claim is counted and the window is open.
    await waitFor(() => t.peek().claimedNotFound === 1, 'the missing majority to be noticed');
    d.set('c', 2);
    await waitFor(() => t.peek().open === 0, 'the window to close once the disks show a majority');
    const s = await t.finish();
    expect(s.claimedNotFound).toBe(1);
    expect(s.underMajorityAtAck).toBe(0);
    expect(s.stillUnderMajority).toBe(0);
    expect(s.window.n).toBe(1);
    // Open for at least the time the test took to put the copies on the disks.
    expect(s.window.max as number).toBeGreaterThan(0);
  });

  it('without the server figure the disks decide: one copy found after the ack counts as under a majority', async () => {
    const d = disks({ e: 1 });
    const t = new DurabilityTracker(d.files, 2, 3);
    t.ack('e');
    const s = await t.finish();
    expect(s).toMatchObject({ underMajorityAtAck: 1, claimedNotFound: 0, stillUnderMajority: 1 });
  });
});
