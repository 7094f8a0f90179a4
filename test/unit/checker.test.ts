import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { check, History, type HistoryData, type ListOp, type Op, type ReadOp, type StrongWindow, type WriteOp, type Verification } from '../../bench/checker.js';

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
  // Where in its interval the operation takes effect, in thousandths, strictly inside: an operation
  // that ends exactly when another starts precedes it, so a point on either end could order them
  // against real time (and a fraction like 0.99999999999999994 rounds onto the end).
  point: fc.integer({ min: 1, max: 999 }),
  outcome: fc.constantFrom<WriteOp['status']>('ok', 'ok', 'ok', 'fail', 'info'),
});

type OpSpec = typeof opSpec extends fc.Arbitrary<infer T> ? T : never;

/**
 * Each spec's interval and linearization point. Sequential: each operation ends before the next
 * begins. Otherwise: the spec's own, overlapping, interval.
 */
function timedSpecs(specs: OpSpec[], sequential: boolean) {
  let clock = 0;
  return specs.map((s, i) => {
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
    return { ...s, i, start, end, lin: start + ((end - start) * s.point) / 1000 };
  });
}

function modelHistory(specs: OpSpec[], sequential: boolean): HistoryData {
  // Each operation takes effect at its linearization point (writes that fail never take effect).
  const timed = timedSpecs(specs, sequential);
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

// ---------------------------------------------------------------- version-aware checking

/** An acknowledged (or failed / unknown) write with the version the server gave it. */
const wv = (id: number, key: string, digest: string, start: number, end: number | undefined, version: number | undefined, more: Partial<WriteOp> = {}): WriteOp =>
  ({ ...w(id, key, digest, start, end, more.status ?? 'ok'), ...(version !== undefined ? { version } : {}), ...more });
/** A read that returned `digest` labelled by the server as `version`. */
const rv = (id: number, key: string, start: number, end: number, digest: string | null, version?: number): ReadOp =>
  ({ ...r(id, key, start, end, digest), ...(version !== undefined ? { version } : {}) });
const list = (id: number, key: string, start: number, end: number, versions: [number, string][]): ListOp =>
  ({ type: 'list', id, key, start, end, status: 'ok', versions: versions.map(([version, digest]) => ({ version, digest })) });

describe('version-aware checker: order comes from the server versions, not client clocks', () => {
  it('rejects a later read of the older of two overlapping acknowledged writes (the clock rule let it pass)', () => {
    // W1 [0, 20] and W2 [10, 30] overlap; the catalog committed W1 as v1 and W2 as v2; both are
    // acknowledged before R [40, 50] begins, and R returns v1.
    const ops: Op[] = [wv(1, 'k', 'aaa', 0, 20, 1), wv(2, 'k', 'bbb', 10, 30, 2), rv(3, 'k', 40, 50, 'aaa', 1)];
    const res = check(hist(ops));
    expect(res.valid).toBe(false);
    expect(res.counts.staleReads).toBe(1);
    expect(res.examples[0]).toMatchObject({ kind: 'stale', opId: 3 });
    expect(res.examples[0]?.message).toContain('overlapped');
    // The same history without versions is what the clock-only rule accepted.
    const unversioned = ops.map((o) => ({ ...o, version: undefined }));
    expect(check(hist(unversioned)).valid).toBe(true);
  });

  it('accepts the newer of the two overlapping writes, and the older while the newer is not yet acknowledged', () => {
    const ops: Op[] = [wv(1, 'k', 'aaa', 0, 20, 1), wv(2, 'k', 'bbb', 10, 30, 2)];
    expect(check(hist([...ops, rv(3, 'k', 40, 50, 'bbb', 2)])).valid).toBe(true);
    expect(check(hist([...ops, rv(3, 'k', 25, 50, 'aaa', 1)])).valid).toBe(true);
  });

  it('takes the order from the versions even when the client clocks suggest the other one', () => {
    // W2 began later by the client's clock but the catalog committed it first (v1): a read of W1 (v2) is current.
    const ops: Op[] = [wv(1, 'k', 'aaa', 0, 30, 2), wv(2, 'k', 'bbb', 10, 20, 1)];
    expect(check(hist([...ops, rv(3, 'k', 40, 50, 'aaa', 2)])).valid).toBe(true);
    expect(check(hist([...ops, rv(3, 'k', 40, 50, 'bbb', 1)])).counts.staleReads).toBe(1);
  });

  it('infers a read\'s version from its content when the server did not label it', () => {
    const ops: Op[] = [wv(1, 'k', 'aaa', 0, 20, 1), wv(2, 'k', 'bbb', 10, 30, 2), rv(3, 'k', 40, 50, 'aaa')];
    expect(check(hist(ops)).counts.staleReads).toBe(1);
  });

  it('rejects a read older than a version another read had already returned (stale, monotonic)', () => {
    const ops: Op[] = [wv(1, 'k', 'aaa', 0, 10, 1), wv(2, 'k', 'bbb', 20, undefined, undefined, { status: 'info' }),
      rv(3, 'k', 25, 30, 'bbb', 2), rv(4, 'k', 35, 40, 'aaa', 1)];
    const res = check(hist(ops));
    expect(res.counts.staleReads).toBe(1);
    expect(res.examples[0]).toMatchObject({ kind: 'stale', opId: 4 });
  });

  it('rejects absent after an acknowledged write (stale)', () => {
    expect(check(hist([wv(1, 'k', 'aaa', 0, 10, 1), rv(2, 'k', 11, 12, null)])).counts.staleReads).toBe(1);
  });

  it('rejects content that no write produced, and content labelled with another write\'s version (corrupt)', () => {
    const base: Op[] = [wv(1, 'k', 'aaa', 0, 10, 1), wv(2, 'k', 'bbb', 20, 30, 2)];
    expect(check(hist([...base, rv(3, 'k', 40, 50, 'zzz', 2)])).counts.corruptReads).toBe(1);
    const mislabelled = check(hist([...base, rv(3, 'k', 40, 50, 'aaa', 2)]));
    expect(mislabelled.counts.corruptReads).toBe(1);
    expect(mislabelled.examples[0]?.message).toContain('labelled as version 2');
  });

  it('rejects a read or a listing of a write reported as failed (phantom)', () => {
    const base: Op[] = [wv(1, 'k', 'aaa', 0, 10, 1), wv(2, 'k', 'bad', 20, 25, undefined, { status: 'fail', cause: '412' })];
    const read = check(hist([...base, rv(3, 'k', 30, 40, 'bad', 2)]));
    expect(read.counts.phantomReads).toBe(1);
    const listed = check(hist([...base, list(3, 'k', 30, 40, [[1, 'aaa'], [2, 'bad']])]));
    expect(listed.counts.phantomReads).toBe(1);
    expect(listed.examples[0]?.message).toContain('listing #3');
  });

  it('rejects an acknowledged write missing from a later version listing, or sharing its version (lost)', () => {
    const base: Op[] = [wv(1, 'k', 'aaa', 0, 10, 1), wv(2, 'k', 'bbb', 20, 30, 2)];
    const missing = check(hist([...base, list(3, 'k', 40, 50, [[1, 'aaa']])]));
    expect(missing.counts.lostWrites).toBe(1);
    expect(missing.examples[0]).toMatchObject({ kind: 'lost', opId: 2 });
    const dup = check(hist([wv(1, 'k', 'aaa', 0, 10, 1), wv(2, 'k', 'bbb', 5, 15, 1)]));
    expect(dup.counts.lostWrites).toBe(1);
    // A listing that began before the acknowledgement need not show it.
    expect(check(hist([...base, list(3, 'k', 25, 50, [[1, 'aaa']])])).valid).toBe(true);
  });

  it('rejects an acknowledged write that does not read back after heal (lost), or reads back other bytes', () => {
    const ops: Op[] = [wv(1, 'k', 'aaa', 0, 10, 1)];
    expect(check({ ops, verifications: [{ writeId: 1, digest: null, at: 99, detail: '404' }] }).counts.lostWrites).toBe(1);
    expect(check({ ops, verifications: [{ writeId: 1, digest: 'aab', at: 99 }] }).counts.corruptVerifications).toBe(1);
  });

  it('rejects versions that contradict real time (order)', () => {
    const res = check(hist([wv(1, 'k', 'aaa', 0, 10, 2), wv(2, 'k', 'bbb', 20, 30, 1)]));
    expect(res.counts.orderViolations).toBe(1);
    expect(res.examples[0]).toMatchObject({ kind: 'order', opId: 2 });
  });

  it('rejects a conditional write acknowledged over a version it had not seen (CAS)', () => {
    // Both writers read v1 and sent If-Match: 1; both were acknowledged (v2, v3): the second
    // replaced v2 without its precondition holding.
    const ops: Op[] = [wv(1, 'k', 'aaa', 0, 10, 1), wv(2, 'k', 'bbb', 20, 30, 2, { ifMatch: 1 }), wv(3, 'k', 'ccc', 21, 35, 3, { ifMatch: 1 })];
    const res = check(hist(ops));
    expect(res.counts.casViolations).toBe(1);
    expect(res.examples[0]).toMatchObject({ kind: 'cas', opId: 3 });
    expect(res.counts.casWrites).toBe(2);
  });

  it('rejects a CAS write whose skipped version is known only from a read or a listing', () => {
    const base: Op[] = [wv(1, 'k', 'aaa', 0, 10, 1), wv(2, 'k', 'bbb', 20, undefined, undefined, { status: 'info' }), wv(3, 'k', 'ccc', 21, 35, 3, { ifMatch: 1 })];
    expect(check(hist([...base, rv(4, 'k', 40, 45, 'bbb', 2)])).counts.casViolations).toBe(1);
    expect(check(hist([...base, list(4, 'k', 40, 45, [[1, 'aaa'], [2, 'bbb'], [3, 'ccc']])])).counts.casViolations).toBe(1);
    // Without evidence that v2 was committed (an unknown write that never showed up), the CAS stands.
    expect(check(hist([...base, list(4, 'k', 40, 45, [[1, 'aaa'], [3, 'ccc']])])).counts.casViolations).toBe(0);
  });

  it('accepts CAS writes that each replaced the version they named, and a rejected CAS (412) that never shows', () => {
    const ops: Op[] = [wv(1, 'k', 'aaa', 0, 10, 1), wv(2, 'k', 'bbb', 20, 30, 2, { ifMatch: 1 }), wv(3, 'k', 'ccc', 21, 29, undefined, { status: 'fail', cause: '412', ifMatch: 1 }),
      wv(4, 'k', 'ddd', 40, 50, 3, { ifMatch: 2 }), list(5, 'k', 60, 70, [[1, 'aaa'], [2, 'bbb'], [3, 'ddd']]), rv(6, 'k', 60, 70, 'ddd', 3)];
    const res = check(hist(ops));
    expect(res.examples).toEqual([]);
    expect(res.valid).toBe(true);
  });

  it('rejects a write acknowledged below strong inside a critical-key or strong-override window (critical)', () => {
    const ops: Op[] = [wv(1, 'k', 'aaa', 10, 20, 1, { mode: 'A' }), wv(2, 'other', 'bbb', 10, 20, 1, { mode: 'A' }), wv(3, 'k', 'ccc', 30, 40, 2, { mode: 'C', acked: 1 })];
    const windows: StrongWindow[] = [{ key: 'k', from: 5, reason: 'critical key' }];
    const res = check({ ...hist(ops), strongWindows: windows, quorum: 2 });
    expect(res.counts.criticalViolations).toBe(2);
    expect(res.ids).toBeUndefined();
    expect(check({ ...hist(ops), strongWindows: windows, quorum: 2 }, { collectIds: true }).ids?.critical).toEqual([1, 3]);
    // A write that began before the key was acknowledged as critical, or ended after its removal was asked, may be weaker.
    expect(check({ ...hist(ops), strongWindows: [{ key: 'k', from: 15, to: 100, reason: 'critical key' }] }).counts.criticalViolations).toBe(0);
    expect(check({ ...hist(ops), strongWindows: [{ key: 'k', from: 5, to: 18, reason: 'critical key' }] }).counts.criticalViolations).toBe(0);
    // A strong global override covers every key.
    expect(check({ ...hist(ops), strongWindows: [{ key: '*', from: 5, reason: 'strong override' }] }).counts.criticalViolations).toBe(2);
  });

  it('records versions, CAS, listings and strong windows through the History recorder', () => {
    let t = 0;
    const h = new History(() => t++);
    h.quorum = 2;
    const a = h.invokeWrite('k', 'aaa');
    h.writeOk(a, '1', { mode: 'C', acked: 3 });
    const win = h.strongFrom('k', 'critical key');
    const b = h.invokeWrite('k', 'bbb', 1);
    h.writeOk(b, '2', { mode: 'A' });
    h.strongUntil(win);
    const rd = h.invokeRead('k');
    h.readOk(rd, 'aaa', 1);
    const l = h.invokeList('k');
    h.listOk(l, [{ version: 1, digest: 'aaa' }, { version: 2, digest: 'bbb' }]);
    h.verify(a, 'aaa');
    h.verify(b, 'bbb');
    const res = check(h.data(), { collectIds: true });
    expect(res.counts).toMatchObject({ staleReads: 1, criticalViolations: 1, casViolations: 0, listsOk: 1, verified: 2 });
    expect(res.ids).toMatchObject({ stale: [rd], critical: [b] });
  });
});

/** The model register again, with the versions a linearizable catalog would give. */
function versionedModelHistory(specs: OpSpec[], sequential: boolean): HistoryData {
  const base = modelHistory(specs, sequential);
  // Versions follow each key's linearization order (the same points modelHistory applied).
  const timed = timedSpecs(specs, sequential);
  const byLin = [...timed].sort((x, y) => x.lin - y.lin || x.i - y.i);
  const next = new Map<string, number>();
  const versionOf = new Map<number, number>();
  for (const s of byLin) {
    if (!s.isWrite || s.outcome === 'fail') continue;
    const v = (next.get(s.key) ?? 0) + 1;
    next.set(s.key, v);
    versionOf.set(s.i + 1, v);
  }
  const digestVersion = new Map<string, number>();
  const ops: Op[] = base.ops.map((o) => {
    if (o.type !== 'write' || o.status === 'fail') return o;
    const v = versionOf.get(o.id) as number;
    digestVersion.set(o.digest, v);
    return o.status === 'ok' ? { ...o, version: v } : o;
  });
  const withReads: Op[] = ops.map((o) => (o.type === 'read' && o.digest ? { ...o, version: digestVersion.get(o.digest) as number } : o));
  return hist(withReads);
}

describe('version-aware checker: properties', () => {
  it('accepts every linearizable history with the versions the catalog would give', () => {
    fc.assert(
      fc.property(fc.array(opSpec, { maxLength: 60 }), fc.boolean(), (specs, sequential) => {
        const res = check(versionedModelHistory(specs, sequential));
        expect(res.examples).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });

  it('rejects every history where a read after an acknowledged newer version returns an older one', () => {
    fc.assert(
      fc.property(fc.array(opSpec, { maxLength: 40 }), fc.constantFrom('a', 'b', 'c'), fc.integer({ min: 0, max: 5 }), (specs, key, overlap) => {
        const base = versionedModelHistory(specs, true);
        const end = Math.max(0, ...base.ops.map((o) => o.end ?? o.start));
        const top = Math.max(0, ...base.ops.filter((o): o is WriteOp => o.type === 'write' && o.key === key).map((o) => o.version ?? 0), 0) + 10;
        // Two overlapping (overlap > 0) or sequential acknowledged writes, then a read of the older.
        const extra: Op[] = [wv(9001, key, 'old', end + 1, end + 10, top), wv(9002, key, 'new', end + 10 - overlap, end + 20, top + 1), rv(9003, key, end + 21, end + 22, 'old', top)];
        const res = check(hist([...base.ops, ...extra]));
        expect(res.valid).toBe(false);
        expect(res.counts.staleReads).toBe(1);
      }),
      { numRuns: 100 },
    );
  });
});
