/**
 * The snapshot cache's lease rule with a fake clock and reads held by hand: a snapshot is fresh for
 * one lease from its read's start, a read from before invalidate() is neither joined nor cached, a
 * read in flight for longer than a lease is not joined, and a change's settle waits out the lease.
 */
import { describe, expect, it } from 'vitest';
import { MemoryControllerStore } from '#shared/controller/memory-store.js';
import { SnapshotCache } from '#shared/controller/snapshot-cache.js';
import type { ControlSnapshot } from '#shared/controller/store.js';

function rig(ttlMs = 1000) {
  let t = 1_000_000;
  const clock = { now: () => t };
  const store = new MemoryControllerStore({ clock });
  const pending: { resolve: () => void; snapshot: Promise<ControlSnapshot> }[] = [];
  let held = false;
  const slept: number[] = [];
  const cache = new SnapshotCache({
    clock,
    ttlMs,
    read: async () => {
      const snapshot = store.snapshot(); // taken now: the state as of the read's start
      if (held) await new Promise<void>((resolve) => pending.push({ resolve, snapshot }));
      return snapshot;
    },
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
  });
  return {
    cache,
    store,
    pending,
    slept,
    hold: (on: boolean) => (held = on),
    advance: (ms: number) => (t += ms),
    now: () => t,
  };
}

describe('snapshot cache', () => {
  it('serves a snapshot for one lease counted from the start of its read', async () => {
    const r = rig();
    r.hold(true);
    const first = r.cache.get();
    r.advance(600); // the read takes 600 ms
    r.pending[0]!.resolve();
    await first;
    r.hold(false);
    r.advance(399);
    expect(r.cache.fresh()).toBeDefined();
    r.advance(1);
    expect(r.cache.fresh()).toBeUndefined();
  });

  it('a read in flight from before invalidate() is not joined nor cached', async () => {
    const r = rig();
    r.hold(true);
    const old = r.cache.get();
    await r.store.addCriticalKey('ledger.db', 'admin');
    r.cache.invalidate();
    r.hold(false);
    const after = await r.cache.get();
    expect(after.criticalKeys.has('ledger.db')).toBe(true);
    r.pending[0]!.resolve();
    expect((await old).criticalKeys.has('ledger.db')).toBe(false);
    expect(r.cache.fresh()?.criticalKeys.has('ledger.db')).toBe(true);
  });

  it('a read in flight for longer than a lease is not joined by a later lookup', async () => {
    const r = rig();
    r.hold(true);
    void r.cache.get();
    r.advance(1000);
    r.hold(false);
    await r.store.addCriticalKey('ledger.db', 'admin');
    expect((await r.cache.get()).criticalKeys.has('ledger.db')).toBe(true);
    r.pending[0]!.resolve();
  });

  it('settle waits until a lease started just before the change has run out (with a margin)', async () => {
    const r = rig(1000);
    const storedAt = r.now();
    r.advance(200); // e.g. the audit write
    await r.cache.settle(storedAt);
    expect(r.slept).toEqual([1000 + 10 + 5 - 200]);
    expect(r.now() - storedAt).toBeGreaterThan(1000);
  });

  it('a failed read is not replaced by the last snapshot, and is retried only after a back-off', async () => {
    const r = rig();
    await r.cache.get();
    r.advance(1000);
    let reads = 0;
    r.store.snapshot = async () => {
      reads++;
      throw new Error('unreachable');
    };
    await expect(r.cache.get()).rejects.toThrow('unreachable');
    await expect(r.cache.get()).rejects.toThrow('unreachable');
    expect(reads).toBe(1);
    r.advance(1000);
    await expect(r.cache.get()).rejects.toThrow('unreachable');
    expect(reads).toBe(2);
  });
});
