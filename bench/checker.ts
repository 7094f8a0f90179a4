/**
 * Consistency checker for EchoFS benchmark histories.
 *
 * A history is what clients saw: every write and read with the time it was invoked and the time
 * its outcome arrived (one monotonic clock, milliseconds), plus, after the faults have healed,
 * one verification read of every acknowledged write. The checker judges the history against a
 * multi-writer *regular register* per key (Lamport's regular semantics extended to concurrent
 * writers), then checks durability.
 *
 * Definitions (all times on the client's clock; `end` of a write with no known outcome is +∞):
 *
 * - A write W is **acknowledged** when its status is `ok`. A write with status `fail` was
 *   definitely not applied (e.g. a 503 with nothing committed); a write with status `info` has an
 *   unknown outcome (timeout, dropped connection) and may or may not have taken effect.
 * - W **precedes** a read R when W is acknowledged and `W.end < R.start` (strict: a write
 *   acknowledged at the very instant the read begins counts as concurrent).
 * - Among the writes that precede R, W is **superseded** when another preceding write W' began
 *   after W was acknowledged (`W'.start > W.end`): W' is then strictly later in real time, so
 *   W's value is no longer current. The non-superseded preceding writes are the *latest* writes
 *   before R (several when those writes overlapped each other).
 * - W is **concurrent** with R when W is not `fail`, does not precede R and `W.start < R.end`.
 * - A read R of key K is **valid** when it returns the value of a latest preceding write, or of a
 *   concurrent write, or — when no write precedes R — the key's initial value (absent, `null`,
 *   unless given).
 *
 * An invalid read is classified as
 * - **corrupt**: the bytes match no write ever issued to that key (wrong or mangled content);
 * - **phantom**: the bytes match only writes that were reported as failed;
 * - **stale**: anything else — the value of an older, superseded write, the initial value after a
 *   write was acknowledged, or a write that had not yet begun.
 *
 * After heal, each acknowledged write must read back byte-exact (its version, not merely the key's
 * current value): a verification with no content, or no verification at all, is a **lost write**;
 * a verification with different content is a **corrupt read** too.
 *
 * This is deliberately weaker than linearizability (it does not reject two reads that observe two
 * concurrent writes in opposite orders), which is the property EchoFS promises per read: never an
 * older version than the last acknowledged write.
 */

/** Content identity of a value: a hex SHA-256 of the bytes, or null for "absent". */
export type Digest = string | null;

export type WriteStatus = 'ok' | 'fail' | 'info';

export interface WriteOp {
  type: 'write';
  id: number;
  key: string;
  digest: string;
  start: number;
  /** When the outcome arrived; undefined for `info` writes whose outcome never arrived. */
  end?: number;
  status: WriteStatus;
  /** What the server called this write (e.g. the version number), for the final verification. */
  ref?: string;
  /** Why it failed (HTTP status, "timeout", ...). */
  cause?: string;
}

export interface ReadOp {
  type: 'read';
  id: number;
  key: string;
  start: number;
  end?: number;
  status: 'ok' | 'fail' | 'info';
  /** The content returned (`null`: the key was reported absent). Only for `ok` reads. */
  digest?: Digest;
  cause?: string;
}

export type Op = WriteOp | ReadOp;

/** A read of one acknowledged write's own version after the faults have healed. */
export interface Verification {
  writeId: number;
  /** What came back; null when the version could not be read (404, gone, unreadable). */
  digest: Digest;
  at: number;
  detail?: string;
}

export interface HistoryData {
  ops: readonly Op[];
  verifications: readonly Verification[];
  /** Initial value per key; keys not listed start absent. */
  initial?: Readonly<Record<string, Digest>>;
}

export type AnomalyKind = 'stale' | 'corrupt' | 'phantom' | 'lost' | 'corrupt-verify';

export interface Anomaly {
  kind: AnomalyKind;
  key: string;
  /** The read (for stale/corrupt/phantom) or the write (for lost/corrupt-verify). */
  opId: number;
  /** What came back. */
  got?: Digest;
  /** What would have been acceptable. */
  allowed?: Digest[];
  message: string;
}

export interface CheckCounts {
  writes: number;
  writesAcked: number;
  writesFailed: number;
  writesIndeterminate: number;
  reads: number;
  readsOk: number;
  readsFailed: number;
  staleReads: number;
  corruptReads: number;
  phantomReads: number;
  verified: number;
  lostWrites: number;
  corruptVerifications: number;
}

export interface CheckResult {
  /** True when no anomaly of any kind was found. */
  valid: boolean;
  counts: CheckCounts;
  /** Up to `maxExamples` anomalies of each kind, in history order. */
  examples: Anomaly[];
  /** With `collectIds`: the ids of every anomalous operation, by kind. */
  ids?: Partial<Record<AnomalyKind, number[]>>;
}

export interface CheckOptions {
  maxExamples?: number;
  /** Also return the id of every anomalous read or write (not only the examples). */
  collectIds?: boolean;
}

const short = (d: Digest | undefined): string => (d === null ? 'absent' : d === undefined ? '?' : d.slice(0, 12));

/** Judge a history; pure and deterministic. */
export function check(history: HistoryData, opts: CheckOptions = {}): CheckResult {
  const maxExamples = opts.maxExamples ?? 5;
  const counts: CheckCounts = {
    writes: 0, writesAcked: 0, writesFailed: 0, writesIndeterminate: 0,
    reads: 0, readsOk: 0, readsFailed: 0,
    staleReads: 0, corruptReads: 0, phantomReads: 0,
    verified: 0, lostWrites: 0, corruptVerifications: 0,
  };
  const examples: Anomaly[] = [];
  const perKind = new Map<AnomalyKind, number>();
  const ids: Partial<Record<AnomalyKind, number[]>> = {};
  const report = (a: Anomaly): void => {
    if (opts.collectIds) (ids[a.kind] ??= []).push(a.opId);
    const n = perKind.get(a.kind) ?? 0;
    perKind.set(a.kind, n + 1);
    if (n < maxExamples) examples.push(a);
  };

  const writesByKey = new Map<string, WriteOp[]>();
  const reads: ReadOp[] = [];
  for (const op of history.ops) {
    if (op.type === 'write') {
      counts.writes++;
      if (op.status === 'ok') counts.writesAcked++;
      else if (op.status === 'fail') counts.writesFailed++;
      else counts.writesIndeterminate++;
      let list = writesByKey.get(op.key);
      if (!list) writesByKey.set(op.key, (list = []));
      list.push(op);
    } else {
      counts.reads++;
      if (op.status === 'ok') {
        counts.readsOk++;
        reads.push(op);
      } else counts.readsFailed++;
    }
  }

  for (const r of reads) {
    const got: Digest = r.digest ?? null;
    const writes = writesByKey.get(r.key) ?? [];
    const rEnd = r.end ?? Number.POSITIVE_INFINITY;
    const allowed = new Set<Digest>();
    // Writes acknowledged before the read began, and the latest start among them.
    let maxPrecedingStart = Number.NEGATIVE_INFINITY;
    let anyPreceding = false;
    for (const w of writes) {
      if (precedes(w, r)) {
        anyPreceding = true;
        if (w.start > maxPrecedingStart) maxPrecedingStart = w.start;
      }
    }
    for (const w of writes) {
      if (precedes(w, r)) {
        // Not superseded: no preceding write began strictly after this one was acknowledged.
        if ((w.end as number) >= maxPrecedingStart) allowed.add(w.digest);
      } else if (w.status !== 'fail' && w.start < rEnd) {
        allowed.add(w.digest);
      }
    }
    if (!anyPreceding) allowed.add(history.initial?.[r.key] ?? null);
    if (allowed.has(got)) continue;

    const everWritten = writes.some((w) => w.status !== 'fail' && w.digest === got);
    const onlyFailed = !everWritten && writes.some((w) => w.digest === got);
    const initial = history.initial?.[r.key] ?? null;
    const allowedList = [...allowed];
    if (everWritten || got === initial) {
      counts.staleReads++;
      report({
        kind: 'stale', key: r.key, opId: r.id, got, allowed: allowedList,
        message: `read #${r.id} of ${r.key} returned ${short(got)}, expected one of [${allowedList.map(short).join(', ')}]`,
      });
    } else if (onlyFailed) {
      counts.phantomReads++;
      report({
        kind: 'phantom', key: r.key, opId: r.id, got, allowed: allowedList,
        message: `read #${r.id} of ${r.key} returned ${short(got)}, written only by writes reported as failed`,
      });
    } else {
      counts.corruptReads++;
      report({
        kind: 'corrupt', key: r.key, opId: r.id, got, allowed: allowedList,
        message: `read #${r.id} of ${r.key} returned ${short(got)}, which no write of ${r.key} produced`,
      });
    }
  }

  const verByWrite = new Map<number, Verification>();
  for (const v of history.verifications) {
    const prev = verByWrite.get(v.writeId);
    // Keep the latest verification of a write (a retry after a transient error wins).
    if (!prev || v.at >= prev.at) verByWrite.set(v.writeId, v);
  }
  for (const list of writesByKey.values()) {
    for (const w of list) {
      if (w.status !== 'ok') continue;
      const v = verByWrite.get(w.id);
      if (!v || v.digest === null) {
        counts.lostWrites++;
        report({
          kind: 'lost', key: w.key, opId: w.id, got: v ? null : undefined, allowed: [w.digest],
          message: `acknowledged write #${w.id} of ${w.key}${w.ref ? ` (${w.ref})` : ''} ${v ? `did not read back${v.detail ? `: ${v.detail}` : ''}` : 'was never verified'}`,
        });
      } else if (v.digest !== w.digest) {
        counts.corruptVerifications++;
        report({
          kind: 'corrupt-verify', key: w.key, opId: w.id, got: v.digest, allowed: [w.digest],
          message: `acknowledged write #${w.id} of ${w.key}${w.ref ? ` (${w.ref})` : ''} read back as ${short(v.digest)}, expected ${short(w.digest)}`,
        });
      } else counts.verified++;
    }
  }

  const valid =
    counts.staleReads + counts.corruptReads + counts.phantomReads + counts.lostWrites + counts.corruptVerifications === 0;
  return { valid, counts, examples, ...(opts.collectIds ? { ids } : {}) };
}

function precedes(w: WriteOp, r: ReadOp): boolean {
  return w.status === 'ok' && w.end !== undefined && w.end < r.start;
}

/** Records a history as the operations happen; `data()` hands it to `check`. */
export class History {
  private readonly ops: Op[] = [];
  private readonly byId = new Map<number, Op>();
  private readonly verifications: Verification[] = [];
  private nextId = 1;

  constructor(private readonly now: () => number = () => performance.now()) {}

  invokeWrite(key: string, digest: string): number {
    const op: WriteOp = { type: 'write', id: this.nextId++, key, digest, start: this.now(), status: 'info' };
    this.ops.push(op);
    this.byId.set(op.id, op);
    return op.id;
  }

  /** The write was acknowledged; `ref` names the version it created. */
  writeOk(id: number, ref?: string): void {
    const op = this.write(id);
    op.end = this.now();
    op.status = 'ok';
    if (ref !== undefined) op.ref = ref;
  }

  /**
   * The write failed. `definite`: the server said nothing was applied (4xx, 503); otherwise its
   * effect is unknown (timeout, connection lost, 5xx) and it stays a possible value for reads.
   */
  writeFail(id: number, cause: string, definite: boolean): void {
    const op = this.write(id);
    op.cause = cause;
    if (definite) {
      op.end = this.now();
      op.status = 'fail';
    } else {
      op.status = 'info';
    }
  }

  invokeRead(key: string): number {
    const op: ReadOp = { type: 'read', id: this.nextId++, key, start: this.now(), status: 'info' };
    this.ops.push(op);
    this.byId.set(op.id, op);
    return op.id;
  }

  readOk(id: number, digest: Digest): void {
    const op = this.read(id);
    op.end = this.now();
    op.status = 'ok';
    op.digest = digest;
  }

  readFail(id: number, cause: string): void {
    const op = this.read(id);
    op.end = this.now();
    op.status = 'fail';
    op.cause = cause;
  }

  verify(writeId: number, digest: Digest, detail?: string): void {
    this.write(writeId);
    this.verifications.push({ writeId, digest, at: this.now(), ...(detail ? { detail } : {}) });
  }

  /** Acknowledged writes, for the verification pass. */
  acknowledged(): WriteOp[] {
    return this.ops.filter((o): o is WriteOp => o.type === 'write' && o.status === 'ok');
  }

  data(): HistoryData {
    return { ops: this.ops, verifications: this.verifications };
  }

  private write(id: number): WriteOp {
    const op = this.byId.get(id);
    if (!op || op.type !== 'write') throw new Error(`no write #${id} in this history`);
    return op;
  }

  private read(id: number): ReadOp {
    const op = this.byId.get(id);
    if (!op || op.type !== 'read') throw new Error(`no read #${id} in this history`);
    return op;
  }
}
