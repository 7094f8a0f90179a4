import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { check, History, type HistoryData, type Op, type ReadOp, type WriteOp, type Verification } from '../../bench/checker.js';

const w = (id: number, key: string, digest: string, start: number, end: number | undefined, status: WriteOp['status'] = 'ok'): WriteOp =>
  ({ type: 'write', id, key, digest, start, status, ...(end !== undefined ? { end } : {}) });
const r = (id: number, key: string, start: number, end: number, digest: string | null): ReadOp =>
  ({ type: 'read', id, key, start, end, status: 'ok', digest });
const verifyAll = (ops: readonly Op[], at = 10_000): Verification[] =>
  ops.filter((o): o is WriteOp => o.type === 'write' && o.status === 'ok').map((o) => ({ writeId: o.id, digest: o.digest, at }));
const hist = (ops: Op[], verifications = verifyAll(ops)): HistoryData => ({ ops, verifications });

describe('consistency checker: rejects anomalies', () => {
  it('rejects a read that returns a value superseded by a later acknowledged write (stale read)', () => {
    const ops: Op[] = [w(1, 'k', 'aaa', 0, 10), w(2, 'k', 'bbb', 20, 30), r(3, 'k', 40, 50, 'aaa')];
    const res = check(hist(ops));
    expect(res.valid).toBe(false);
    expect(res.counts.staleReads).toBe(1);
    expect(res.examples[0]).toMatchObject({ kind: 'stale', opId: 3, got: 'aaa', allowed: ['bbb'] });
  });

  it('rejects a read that returns "absent" after a write was acknowledged (stale read)', () => {
    const res = check(hist([w(1, 'k', 'aaa', 0, 10), r(2, 'k', 11, 12, null)]));
    expect(res.counts.staleReads).toBe(1);
    expect(res.valid).toBe(false);
  });

  it('rejects a read that returns a value no write produced (corrupt read)', () => {
    const res = check(hist([w(1, 'k', 'aaa', 0, 10), r(2, 'k', 5, 15, 'zzz')]));
    expect(res.valid).toBe(false);
    expect(res.counts.corruptReads).toBe(1);
    expect(res.examples[0]?.kind).toBe('corrupt');
  });

  it('rejects a read of a value written to another key only (corrupt read)', () => {
    const res = check(hist([w(1, 'a', 'aaa', 0, 10), w(2, 'b', 'bbb', 0, 10), r(3, 'a', 20, 30, 'bbb')]));
    expect(res.counts.corruptReads).toBe(1);
  });

  it('rejects a read of a value whose write was reported as failed (phantom read)', () => {
    const res = check(hist([w(1, 'k', 'aaa', 0, 10), w(2, 'k', 'bad', 20, 25, 'fail'), r(3, 'k', 22, 40, 'bad')]));
    expect(res.valid).toBe(false);
    expect(res.counts.phantomReads).toBe(1);
  });

  it('rejects a read of a write that had not begun when the read ended (stale: from the future)', () => {
    const res = check(hist([w(1, 'k', 'aaa', 0, 10), r(2, 'k', 20, 30, 'bbb'), w(3, 'k', 'bbb', 40, 50)]));
    expect(res.counts.staleReads).toBe(1);
  });

  it('rejects an acknowledged write that does not read back after heal (lost write)', () => {
    const ops: Op[] = [w(1, 'k', 'aaa', 0, 10), w(2, 'k', 'bbb', 20, 30)];
    const res = check({ ops, verifications: [{ writeId: 1, digest: 'aaa', at: 100 }, { writeId: 2, digest: null, at: 100, detail: '404' }] });
    expect(res.valid).toBe(false);
    expect(res.counts.lostWrites).toBe(1);
    expect(res.counts.verified).toBe(1);
    expect(res.examples[0]).toMatchObject({ kind: 'lost', opId: 2 });
    expect(res.examples[0]?.message).toContain('404');
  });

  it('counts an acknowledged write that was never verified as lost', () => {
    const res = check({ ops: [w(1, 'k', 'aaa', 0, 10)], verifications: [] });
    expect(res.counts.lostWrites).toBe(1);
  });

  it('rejects an acknowledged write that reads back with other bytes (corrupt verification)', () => {
    const res = check({ ops: [w(1, 'k', 'aaa', 0, 10)], verifications: [{ writeId: 1, digest: 'aab', at: 100 }] });
    expect(res.valid).toBe(false);
    expect(res.counts.corruptVerifications).toBe(1);
    expect(res.counts.lostWrites).toBe(0);
  });

  it('keeps at most maxExamples examples per kind but counts them all', () => {
    const ops: Op[] = [w(1, 'k', 'aaa', 0, 10), w(2, 'k', 'bbb', 20, 30)];
    for (let i = 0; i < 20; i++) ops.push(r(100 + i, 'k', 40 + i, 41 + i, 'aaa'));
    const res = check(hist(ops), { maxExamples: 3 });
    expect(res.counts.staleReads).toBe(20);
    expect(res.examples.filter((e) => e.kind === 'stale')).toHaveLength(3);
  });
});

describe('consistency checker: accepts valid histories', () => {
  it('accepts a read concurrent with a write returning either the old or the new value', () => {
    for (const got of ['aaa', 'bbb']) {
      const res = check(hist([w(1, 'k', 'aaa', 0, 10), w(2, 'k', 'bbb', 20, 40), r(3, 'k', 25, 35, got)]));
      expect(res.valid, got).toBe(true);
    }
  });

  it('accepts either value of two overlapping acknowledged writes once both have finished', () => {
    const ops: Op[] = [w(1, 'k', 'aaa', 0, 20), w(2, 'k', 'bbb', 10, 30)];
    expect(check(hist([...ops, r(3, 'k', 40, 50, 'aaa')])).valid).toBe(true);
    expect(check(hist([...ops, r(3, 'k', 40, 50, 'bbb')])).valid).toBe(true);
  });

  it('accepts the initial absent value before any write is acknowledged', () => {
    expect(check(hist([r(1, 'k', 0, 5, null), w(2, 'k', 'aaa', 3, 10), r(3, 'k', 6, 8, null)])).valid).toBe(true);
  });

  it('accepts a read of a write with unknown outcome, during and after it', () => {
    const ops: Op[] = [w(1, 'k', 'aaa', 0, 10), w(2, 'k', 'bbb', 20, undefined, 'info')];
    expect(check(hist([...ops, r(3, 'k', 100, 110, 'bbb')])).valid).toBe(true);
    expect(check(hist([...ops, r(3, 'k', 100, 110, 'aaa')])).valid).toBe(true);
  });

  it('ignores failed reads and does not require verification of failed writes', () => {
    const ops: Op[] = [
      w(1, 'k', 'aaa', 0, 10, 'fail'),
      { type: 'read', id: 2, key: 'k', start: 5, end: 6, status: 'fail', cause: '503' },
      r(3, 'k', 20, 30, null),
    ];
    const res = check(hist(ops));
    expect(res.valid).toBe(true);
    expect(res.counts).toMatchObject({ writesFailed: 1, readsFailed: 1, readsOk: 1, lostWrites: 0 });
  });

  it('records a history through the History recorder and judges it valid', () => {
    let t = 0;
    const h = new History(() => t++);
    const a = h.invokeWrite('k', 'aaa');
    h.writeOk(a, 'v1');
    const rd = h.invokeRead('k');
    h.readOk(rd, 'aaa');
    const b = h.invokeWrite('k', 'bbb');
    h.writeFail(b, 'timeout', false);
    const c = h.invokeWrite('k', 'ccc');
    h.writeFail(c, '503', true);
    h.verify(a, 'aaa');
    const res = check(h.data());
    expect(res.valid).toBe(true);
    expect(res.counts).toMatchObject({ writes: 3, writesAcked: 1, writesIndeterminate: 1, writesFailed: 1, verified: 1 });
    expect(h.acknowledged().map((o) => o.ref)).toEqual(['v1']);
  });
});

/** A register per key; operations with random intervals, applied at a point inside each interval. */
const opSpec = fc.record({
  key: fc.constantFrom('a', 'b', 'c'),
  isWrite: fc.boolean(),
  value: fc.integer({ min: 0, max: 5 }),
  start: fc.integer({ min: 0, max: 1000 }),
  length: fc.integer({ min: 1, max: 100 }),
  point: fc.double({ min: 0, max: 1, noNaN: true }),
  outcome: fc.constantFrom<WriteOp['status']>('ok', 'ok', 'ok', 'fail', 'info'),
});

type OpSpec = typeof opSpec extends fc.Arbitrary<infer T> ? T : never;

function modelHistory(specs: OpSpec[], sequential: boolean): HistoryData {
  // Sequential: each operation ends before the next begins. Otherwise: random overlapping intervals,
  // each taking effect at its linearization point (writes that fail never take effect).
  let clock = 0;
  const timed = specs.map((s, i) => {
    let start: number;
    let end: number;
    if (sequential) {
      start = clock + 1;
      end = start + s.length;
      clock = end;
    } else {
      start = s.start;
      end = s.start + s.length;
    }
    return { ...s, i, start, end, lin: start + (end - start) * s.point };
  });
  const byLin = [...timed].sort((x, y) => x.lin - y.lin || x.i - y.i);
  const state = new Map<string, string | null>();
  const ops: Op[] = [];
  for (const s of byLin) {
    const id = s.i + 1;
    if (s.isWrite) {
      const digest = `${s.key}-${s.value}-${id}`;
      if (s.outcome !== 'fail') state.set(s.key, digest);
      ops.push(w(id, s.key, digest, s.start, s.outcome === 'info' ? undefined : s.end, s.outcome));
    } else {
      ops.push(r(id, s.key, s.start, s.end, state.get(s.key) ?? null));
    }
  }
  ops.sort((x, y) => x.start - y.start);
  return hist(ops);
}

describe('consistency checker: properties', () => {
  it('accepts every sequential history generated from a model register', () => {
    fc.assert(
      fc.property(fc.array(opSpec, { maxLength: 60 }), (specs) => {
        const res = check(modelHistory(specs, true));
        expect(res.examples).toEqual([]);
        expect(res.valid).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('accepts every linearizable concurrent history generated from a model register', () => {
    fc.assert(
      fc.property(fc.array(opSpec, { maxLength: 60 }), (specs) => {
        const res = check(modelHistory(specs, false));
        expect(res.examples).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a sequential history once a read after two acknowledged writes returns the older one', () => {
    fc.assert(
      fc.property(fc.array(opSpec, { maxLength: 40 }), fc.constantFrom('a', 'b', 'c'), (specs, key) => {
        const base = modelHistory(specs, true);
        const end = Math.max(0, ...base.ops.map((o) => o.end ?? o.start));
        const extra: Op[] = [w(9001, key, 'old', end + 1, end + 2), w(9002, key, 'new', end + 3, end + 4), r(9003, key, end + 5, end + 6, 'old')];
        const ops = [...base.ops, ...extra];
        const res = check(hist(ops));
        expect(res.valid).toBe(false);
        expect(res.counts.staleReads).toBe(1);
      }),
      { numRuns: 100 },
    );
  });
});
