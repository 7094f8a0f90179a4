/**
 * Consistency checker for EchoFS histories (the benchmark and the nemesis).
 *
 * A history is what clients saw: every write, read and version listing with the time it was
 * invoked and the time its outcome arrived (one monotonic clock, milliseconds), plus, after the
 * faults have healed, one verification read of every acknowledged write. Writes and reads carry
 * the **version** the server gave them (the upload's `version`, the download's `X-EchoFS-Version`),
 * and the order of writes to one key comes from those versions — the catalog's commit order — not
 * from the clients' clocks. Client time is used only for real-time precedence ("this write was
 * acknowledged before that read began"), which no clock skew can fake: both ends are on one clock.
 *
 * Definitions (`end` of an operation with no known outcome is +∞):
 *
 * - A write W is **acknowledged** when its status is `ok`. A write with status `fail` was
 *   definitely not applied (a 4xx or 503 with nothing committed); `info` has an unknown outcome
 *   (timeout, dropped connection, 5xx) and may or may not have taken effect.
 * - W **precedes** an operation X when W is acknowledged and `W.end < X.start`.
 * - The versions of one key are totally ordered by the catalog. EchoFS promises that a read never
 *   returns an older version than the last acknowledged write (linearizable catalog, immutable
 *   chunks); so:
 *
 * Anomalies (each counted and, up to `maxExamples` per kind, described):
 *
 * - **stale** read: R returned version v while some write with a version > v was acknowledged
 *   before R began, or an earlier read or listing (ended before R began) had already seen a
 *   version > v; or R returned "absent" after a write was acknowledged; or R returned a write that
 *   had not begun when R ended. Overlapping writes do not excuse a stale read: with W1 and W2
 *   overlapping and both acknowledged, a later read of the lower version is stale.
 * - **corrupt** read: the bytes match no write ever issued to that key, or match a write other
 *   than the one the version names (content and version disagree).
 * - **phantom**: a read or a version listing shows content written only by writes reported as
 *   failed (a failure answer for a write that was committed after all).
 * - **order**: two acknowledged writes, one acknowledged before the other began, got versions in
 *   the opposite order (the catalog's order contradicts real time).
 * - **cas** violation: a compare-and-swap write (If-Match: p) acknowledged as version v although
 *   v ≤ p or another committed version lies strictly between p and v (someone else's write was
 *   overwritten without the precondition holding). Committed versions are known from acknowledged
 *   writes, from reads and from version listings.
 * - **lost** write: an acknowledged write that does not read back (by its own version) after heal,
 *   that shares its version with another write, or that a version listing begun after its
 *   acknowledgement does not show.
 * - **corrupt-verify**: an acknowledged write that reads back after heal with other bytes.
 * - **critical**: a write acknowledged in a mode other than strong (C), or with fewer replicas than
 *   the quorum, although it began inside a strong window (a critical key, or a strong global
 *   override, whose change had been acknowledged before the write began and not yet undone).
 *
 * A history without versions (an older recorder) is judged by the clock-only rule for reads: W is
 * superseded when another preceding write began after W was acknowledged; the latest preceding
 * writes and the concurrent ones are allowed. That rule cannot see a stale read between two
 * overlapping writes, which is why every recorder here records versions.
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
  /** The version the server committed this write as (acknowledged writes). */
  version?: number;
  /** Compare-and-swap: the version the write required to be current (If-Match). */
  ifMatch?: number;
  /** The consistency mode the write was acknowledged under (C, H, A). */
  mode?: string;
  /** How many replicas held the write at the acknowledgement, when the server says. */
  acked?: number;
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
  /** The version the server said it returned. */
  version?: number;
  cause?: string;
}

/** A listing of a key's versions (GET /files/{id}/versions). */
export interface ListOp {
  type: 'list';
  id: number;
  key: string;
  start: number;
  end?: number;
  status: 'ok' | 'fail' | 'info';
  /** Every version the listing showed, with its content's digest. */
  versions?: { version: number; digest: string }[];
  cause?: string;
}

export type Op = WriteOp | ReadOp | ListOp;

/** A read of one acknowledged write's own version after the faults have healed. */
export interface Verification {
  writeId: number;
  /** What came back; null when the version could not be read (404, gone, unreadable). */
  digest: Digest;
  at: number;
  detail?: string;
}

/**
 * A period in which writes to `key` (or to every key: '*') must be strong: from the moment the
 * change (critical key added, strong override set) was acknowledged to the moment its undoing was
 * requested (undefined: never undone).
 */
export interface StrongWindow {
  key: string;
  from: number;
  to?: number;
  reason: 'critical key' | 'strong override';
}

export interface HistoryData {
  ops: readonly Op[];
  verifications: readonly Verification[];
  /** Initial value per key; keys not listed start absent. */
  initial?: Readonly<Record<string, Digest>>;
  strongWindows?: readonly StrongWindow[];
  /** Replicas a strong write needs (majority); when set, acknowledged `acked` counts are checked. */
  quorum?: number;
}

export type AnomalyKind = 'stale' | 'corrupt' | 'phantom' | 'order' | 'cas' | 'lost' | 'corrupt-verify' | 'critical';

export const ANOMALY_KINDS: readonly AnomalyKind[] = ['lost', 'stale', 'corrupt', 'corrupt-verify', 'cas', 'phantom', 'order', 'critical'];

export interface Anomaly {
  kind: AnomalyKind;
  key: string;
  /** The read or listing (stale/corrupt/phantom) or the write (the others). */
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
  casWrites: number;
  reads: number;
  readsOk: number;
  readsFailed: number;
  lists: number;
  listsOk: number;
  staleReads: number;
  corruptReads: number;
  phantomReads: number;
  orderViolations: number;
  casViolations: number;
  criticalViolations: number;
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

const COUNTER: Record<AnomalyKind, keyof CheckCounts> = {
  stale: 'staleReads',
  corrupt: 'corruptReads',
  phantom: 'phantomReads',
  order: 'orderViolations',
  cas: 'casViolations',
  lost: 'lostWrites',
  'corrupt-verify': 'corruptVerifications',
  critical: 'criticalViolations',
};

const short = (d: Digest | undefined): string => (d === null ? 'absent' : d === undefined ? '?' : d.slice(0, 12));
const INF = Number.POSITIVE_INFINITY;

function precedes(w: WriteOp, x: { start: number }): boolean {
  return w.status === 'ok' && w.end !== undefined && w.end < x.start;
}

/** Everything the checker knows about one key. */
interface KeyFacts {
  writes: WriteOp[];
  byDigest: Map<string, WriteOp[]>;
  /** Acknowledged writes with a version, by version. */
  ackedByVersion: Map<number, WriteOp[]>;
  /** Versions known to be committed, with what showed it. */
  committed: Map<number, string>;
  /** Observations of versions (reads and listings that completed), for monotonicity. */
  seen: { end: number; version: number; id: number }[];
}

/** Judge a history; pure and deterministic. */
export function check(history: HistoryData, opts: CheckOptions = {}): CheckResult {
  const maxExamples = opts.maxExamples ?? 5;
  const counts: CheckCounts = {
    writes: 0, writesAcked: 0, writesFailed: 0, writesIndeterminate: 0, casWrites: 0,
    reads: 0, readsOk: 0, readsFailed: 0, lists: 0, listsOk: 0,
    staleReads: 0, corruptReads: 0, phantomReads: 0, orderViolations: 0, casViolations: 0, criticalViolations: 0,
    verified: 0, lostWrites: 0, corruptVerifications: 0,
  };
  const examples: Anomaly[] = [];
  const perKind = new Map<AnomalyKind, number>();
  const ids: Partial<Record<AnomalyKind, number[]>> = {};
  const report = (a: Anomaly): void => {
    counts[COUNTER[a.kind]]++;
    if (opts.collectIds) (ids[a.kind] ??= []).push(a.opId);
    const n = perKind.get(a.kind) ?? 0;
    perKind.set(a.kind, n + 1);
    if (n < maxExamples) examples.push(a);
  };

  const keys = new Map<string, KeyFacts>();
  const facts = (key: string): KeyFacts => {
    let f = keys.get(key);
    if (!f) keys.set(key, (f = { writes: [], byDigest: new Map(), ackedByVersion: new Map(), committed: new Map(), seen: [] }));
    return f;
  };
  const reads: ReadOp[] = [];
  const lists: ListOp[] = [];
  for (const op of history.ops) {
    if (op.type === 'write') {
      counts.writes++;
      if (op.ifMatch !== undefined) counts.casWrites++;
      if (op.status === 'ok') counts.writesAcked++;
      else if (op.status === 'fail') counts.writesFailed++;
      else counts.writesIndeterminate++;
      const f = facts(op.key);
      f.writes.push(op);
      const same = f.byDigest.get(op.digest);
      if (same) same.push(op);
      else f.byDigest.set(op.digest, [op]);
      if (op.status === 'ok' && op.version !== undefined) {
        const at = f.ackedByVersion.get(op.version);
        if (at) at.push(op);
        else f.ackedByVersion.set(op.version, [op]);
        f.committed.set(op.version, `write #${op.id}`);
      }
    } else if (op.type === 'read') {
      counts.reads++;
      if (op.status === 'ok') {
        counts.readsOk++;
        reads.push(op);
        if (op.version !== undefined && op.digest !== null && op.digest !== undefined) {
          const f = facts(op.key);
          if (!f.committed.has(op.version)) f.committed.set(op.version, `read #${op.id}`);
          f.seen.push({ end: op.end ?? INF, version: op.version, id: op.id });
        }
      } else counts.readsFailed++;
    } else {
      counts.lists++;
      if (op.status === 'ok') {
        counts.listsOk++;
        lists.push(op);
        const f = facts(op.key);
        for (const v of op.versions ?? []) {
          if (!f.committed.has(v.version)) f.committed.set(v.version, `listing #${op.id}`);
        }
        const max = Math.max(-INF, ...(op.versions ?? []).map((v) => v.version));
        if (max > -INF) f.seen.push({ end: op.end ?? INF, version: max, id: op.id });
      }
    }
  }

  // ---- reads
  for (const r of reads) {
    const got: Digest = r.digest ?? null;
    const f = facts(r.key);
    const initial = history.initial?.[r.key] ?? null;
    const rEnd = r.end ?? INF;
    const precedingAcked = f.writes.filter((w) => precedes(w, r));
    const versioned = r.version !== undefined || (got !== null && (f.byDigest.get(got) ?? []).some((w) => w.version !== undefined));

    if (got === null || (got === initial && !f.byDigest.has(got))) {
      // Absent (or the key's given initial value): valid only while no write was acknowledged before the read.
      const first = precedingAcked[0];
      if (first) {
        report({
          kind: 'stale', key: r.key, opId: r.id, got, allowed: [first.digest],
          message: `read #${r.id} of ${r.key} returned ${short(got)} although write #${first.id} was acknowledged before it began`,
        });
      }
      continue;
    }

    const sources = f.byDigest.get(got) ?? [];
    const live = sources.filter((w) => w.status !== 'fail');
    if (sources.length === 0) {
      report({ kind: 'corrupt', key: r.key, opId: r.id, got, message: `read #${r.id} of ${r.key} returned ${short(got)}, which no write of ${r.key} produced` });
      continue;
    }
    if (live.length === 0) {
      report({ kind: 'phantom', key: r.key, opId: r.id, got, message: `read #${r.id} of ${r.key} returned ${short(got)}, written only by write #${(sources[0] as WriteOp).id}, reported as failed (${(sources[0] as WriteOp).cause ?? 'failed'})` });
      continue;
    }
    const src = live[0] as WriteOp;
    if (r.version !== undefined && src.version !== undefined && src.version !== r.version) {
      report({
        kind: 'corrupt', key: r.key, opId: r.id, got,
        message: `read #${r.id} of ${r.key} returned the bytes of write #${src.id} (version ${src.version}) labelled as version ${r.version}`,
      });
      continue;
    }
    if (src.start > rEnd) {
      report({ kind: 'stale', key: r.key, opId: r.id, got, message: `read #${r.id} of ${r.key} returned ${short(got)} of write #${src.id}, which began only after the read ended` });
      continue;
    }
    if (!versioned) {
      clockRule(r, got, f, report);
      continue;
    }
    const v = (r.version ?? src.version) as number;
    const newer = precedingAcked.find((w) => w.version !== undefined && w.version > v);
    if (newer) {
      const overlap = newer.start < (src.end ?? INF) && src.start < (newer.end ?? INF);
      report({
        kind: 'stale', key: r.key, opId: r.id, got, allowed: [newer.digest],
        message: `read #${r.id} of ${r.key} returned version ${v} (write #${src.id}) although write #${newer.id} was acknowledged as version ${newer.version} before the read began${overlap ? ' (the two writes overlapped)' : ''}`,
      });
      continue;
    }
    const seenNewer = f.seen.find((s) => s.end < r.start && s.version > v);
    if (seenNewer) {
      report({
        kind: 'stale', key: r.key, opId: r.id, got,
        message: `read #${r.id} of ${r.key} returned version ${v}, older than version ${seenNewer.version} that #${seenNewer.id} had already seen before the read began`,
      });
    }
  }

  // ---- version listings
  for (const l of lists) {
    const f = facts(l.key);
    const listed = new Map<number, string>();
    for (const e of l.versions ?? []) {
      listed.set(e.version, e.digest);
      const sources = f.byDigest.get(e.digest) ?? [];
      const live = sources.filter((w) => w.status !== 'fail');
      if (sources.length === 0) {
        report({ kind: 'corrupt', key: l.key, opId: l.id, got: e.digest, message: `listing #${l.id} of ${l.key} shows version ${e.version} as ${short(e.digest)}, which no write of ${l.key} produced` });
      } else if (live.length === 0) {
        report({ kind: 'phantom', key: l.key, opId: l.id, got: e.digest, message: `listing #${l.id} of ${l.key} shows version ${e.version}, written only by write #${(sources[0] as WriteOp).id}, reported as failed (${(sources[0] as WriteOp).cause ?? 'failed'})` });
      } else {
        const src = live[0] as WriteOp;
        if (src.version !== undefined && src.version !== e.version) {
          report({ kind: 'corrupt', key: l.key, opId: l.id, got: e.digest, message: `listing #${l.id} of ${l.key} shows the content of write #${src.id} (version ${src.version}) as version ${e.version}` });
        }
      }
    }
    for (const w of f.writes) {
      if (!precedes(w, l) || w.version === undefined) continue;
      const d = listed.get(w.version);
      if (d === undefined) {
        report({ kind: 'lost', key: w.key, opId: w.id, allowed: [w.digest], message: `acknowledged write #${w.id} of ${w.key} (version ${w.version}) is missing from listing #${l.id}, which began after the acknowledgement` });
      }
    }
  }

  // ---- write order, duplicates and compare-and-swap
  for (const f of keys.values()) {
    const acked = f.writes.filter((w) => w.status === 'ok' && w.version !== undefined);
    for (const [version, ws] of f.ackedByVersion) {
      for (const w of ws.slice(1)) {
        report({ kind: 'lost', key: w.key, opId: w.id, allowed: [w.digest], message: `acknowledged writes #${(ws[0] as WriteOp).id} and #${w.id} of ${w.key} were both given version ${version}: one of them is overwritten` });
      }
    }
    for (const b of acked) {
      const earlier = acked.find((a) => a !== b && precedes(a, b) && (a.version as number) > (b.version as number));
      if (earlier) {
        report({
          kind: 'order', key: b.key, opId: b.id,
          message: `write #${b.id} of ${b.key} began after write #${earlier.id} (version ${earlier.version}) was acknowledged, yet was committed as the older version ${b.version}`,
        });
      }
    }
    const committed = [...f.committed.keys()].sort((x, y) => x - y);
    for (const w of acked) {
      if (w.ifMatch === undefined) continue;
      const v = w.version as number;
      const p = w.ifMatch;
      if (v <= p) {
        report({ kind: 'cas', key: w.key, opId: w.id, message: `conditional write #${w.id} of ${w.key} (If-Match ${p}) was acknowledged as version ${v}, not after ${p}` });
        continue;
      }
      const between = committed.find((u) => u > p && u < v);
      if (between !== undefined) {
        report({
          kind: 'cas', key: w.key, opId: w.id,
          message: `conditional write #${w.id} of ${w.key} (If-Match ${p}) was acknowledged as version ${v}, but version ${between} (${f.committed.get(between)}) was committed in between: it replaced a version it had not seen`,
        });
      }
    }
  }

  // ---- writes that had to be strong
  const windows = history.strongWindows ?? [];
  for (const f of keys.values()) {
    for (const w of f.writes) {
      if (w.status !== 'ok') continue;
      const win = windows.find((s) => (s.key === '*' || s.key === w.key) && s.from < w.start && (s.to === undefined || (w.end ?? INF) < s.to));
      if (!win) continue;
      const weakMode = w.mode !== undefined && w.mode !== 'C';
      const fewCopies = history.quorum !== undefined && w.acked !== undefined && w.acked < history.quorum;
      if (weakMode || fewCopies) {
        report({
          kind: 'critical', key: w.key, opId: w.id,
          message: `write #${w.id} of ${w.key} began inside a ${win.reason} window yet was acknowledged ${weakMode ? `in mode ${w.mode}` : ''}${weakMode && fewCopies ? ' and ' : ''}${fewCopies ? `with ${w.acked} of ${history.quorum} replicas` : ''}`,
        });
      }
    }
  }

  // ---- durability after heal
  const verByWrite = new Map<number, Verification>();
  for (const v of history.verifications) {
    const prev = verByWrite.get(v.writeId);
    // Keep the latest verification of a write (a retry after a transient error wins).
    if (!prev || v.at >= prev.at) verByWrite.set(v.writeId, v);
  }
  for (const f of keys.values()) {
    for (const w of f.writes) {
      if (w.status !== 'ok') continue;
      const v = verByWrite.get(w.id);
      const name = `${w.key}${w.ref ? ` (${w.ref})` : w.version !== undefined ? ` (version ${w.version})` : ''}`;
      if (!v || v.digest === null) {
        report({
          kind: 'lost', key: w.key, opId: w.id, got: v ? null : undefined, allowed: [w.digest],
          message: `acknowledged write #${w.id} of ${name} ${v ? `did not read back${v.detail ? `: ${v.detail}` : ''}` : 'was never verified'}`,
        });
      } else if (v.digest !== w.digest) {
        report({ kind: 'corrupt-verify', key: w.key, opId: w.id, got: v.digest, allowed: [w.digest], message: `acknowledged write #${w.id} of ${name} read back as ${short(v.digest)}, expected ${short(w.digest)}` });
      } else counts.verified++;
    }
  }

  const valid = ANOMALY_KINDS.every((k) => counts[COUNTER[k]] === 0);
  return { valid, counts, examples, ...(opts.collectIds ? { ids } : {}) };
}

/** The clock-only judgement of a read whose version is unknown (see the header). */
function clockRule(r: ReadOp, got: string, f: KeyFacts, report: (a: Anomaly) => void): void {
  const rEnd = r.end ?? INF;
  const allowed = new Set<Digest>();
  let maxPrecedingStart = -INF;
  for (const w of f.writes) if (precedes(w, r) && w.start > maxPrecedingStart) maxPrecedingStart = w.start;
  for (const w of f.writes) {
    if (precedes(w, r)) {
      if ((w.end as number) >= maxPrecedingStart) allowed.add(w.digest);
    } else if (w.status !== 'fail' && w.start < rEnd) allowed.add(w.digest);
  }
  if (allowed.has(got)) return;
  const allowedList = [...allowed];
  report({
    kind: 'stale', key: r.key, opId: r.id, got, allowed: allowedList,
    message: `read #${r.id} of ${r.key} returned ${short(got)}, expected one of [${allowedList.map(short).join(', ')}]`,
  });
}

export interface WriteAck {
  /** The version the server committed. */
  version?: number;
  /** The mode the write was acknowledged under. */
  mode?: string;
  /** Replicas holding it at the acknowledgement. */
  acked?: number;
}

/** Records a history as the operations happen; `data()` hands it to `check`. */
export class History {
  private readonly ops: Op[] = [];
  private readonly byId = new Map<number, Op>();
  private readonly verifications: Verification[] = [];
  private readonly windows: StrongWindow[] = [];
  private nextId = 1;
  quorum: number | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** `ifMatch`: a compare-and-swap on that version. */
  invokeWrite(key: string, digest: string, ifMatch?: number): number {
    const op: WriteOp = { type: 'write', id: this.nextId++, key, digest, start: this.now(), status: 'info', ...(ifMatch !== undefined ? { ifMatch } : {}) };
    this.ops.push(op);
    this.byId.set(op.id, op);
    return op.id;
  }

  /** The write was acknowledged; `ref` names the version it created (a number is taken as the version). */
  writeOk(id: number, ref?: string, ack: WriteAck = {}): void {
    const op = this.write(id);
    op.end = this.now();
    op.status = 'ok';
    if (ref !== undefined && ref !== '') op.ref = ref;
    const version = ack.version ?? (ref !== undefined && /^\d+$/.test(ref) ? Number(ref) : undefined);
    if (version !== undefined) op.version = version;
    if (ack.mode !== undefined) op.mode = ack.mode;
    if (ack.acked !== undefined) op.acked = ack.acked;
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

  /** The read returned `digest` (null: absent), labelled by the server as `version`. */
  readOk(id: number, digest: Digest, version?: number): void {
    const op = this.read(id);
    op.end = this.now();
    op.status = 'ok';
    op.digest = digest;
    if (version !== undefined) op.version = version;
  }

  readFail(id: number, cause: string): void {
    const op = this.read(id);
    op.end = this.now();
    op.status = 'fail';
    op.cause = cause;
  }

  invokeList(key: string): number {
    const op: ListOp = { type: 'list', id: this.nextId++, key, start: this.now(), status: 'info' };
    this.ops.push(op);
    this.byId.set(op.id, op);
    return op.id;
  }

  listOk(id: number, versions: { version: number; digest: string }[]): void {
    const op = this.list(id);
    op.end = this.now();
    op.status = 'ok';
    op.versions = versions;
  }

  listFail(id: number, cause: string): void {
    const op = this.list(id);
    op.end = this.now();
    op.status = 'fail';
    op.cause = cause;
  }

  /** Writes to `key` ('*': all) must be strong from now (call when the change was acknowledged). */
  strongFrom(key: string, reason: StrongWindow['reason']): StrongWindow {
    const w: StrongWindow = { key, from: this.now(), reason };
    this.windows.push(w);
    return w;
  }

  /** The window ends (call before the request that undoes it is sent). */
  strongUntil(w: StrongWindow): void {
    w.to = this.now();
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
    return { ops: this.ops, verifications: this.verifications, strongWindows: this.windows, ...(this.quorum !== undefined ? { quorum: this.quorum } : {}) };
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

  private list(id: number): ListOp {
    const op = this.byId.get(id);
    if (!op || op.type !== 'list') throw new Error(`no listing #${id} in this history`);
    return op;
  }
}
