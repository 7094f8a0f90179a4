/**
 * The latency-aware write path of the controller's own strong mode (C).
 *
 * Each replica's write latency estimate is the median of its recent successful chunk writes, raised
 * to the age of its oldest write still in flight (so a black-holed replica looks slow at once,
 * before any call to it has failed); a replica the health picture judges unreachable counts as
 * infinitely slow. The median, not a tail: a busy server stalls now one replica's writes, now
 * another's, which moves a P95 of a few samples by hundreds of milliseconds, while a replica that
 * is slower for good (farther, delayed) is slower in its median. With N replicas and majority Q,
 * let `fastest` be the smallest estimate and `majority-th` the Q-th smallest:
 *
 *   majority-th > 1.2 × fastest + 15 ms and majority-th ≤ the durability budget
 *     → deadline path: a write waits for a majority at most 1.2 × fastest (clamped 10 ms–1 s),
 *       then is acknowledged with the copies it holds; the rest stay pending for the straggling
 *       writes and the replicator, and the acknowledgement says so (degraded, pending).
 *   otherwise → plain strong: a majority or the write fails (a majority beyond the budget is the
 *       controller's business: its partition input and emergency rule, not this path's).
 *
 * Once on the deadline path, the replicas count as level again only when the majority-th fastest
 * is within 1.1 × fastest + 10 ms (hysteresis: estimates near the threshold do not flap), and the
 * path returns to strong only once they have stayed level for `levelHoldMs`: a moment of level
 * estimates between two stalls is not a recovery (and while the replicas are level, a deadline
 * path write gets its majority within the wait anyway). Readings between the two thresholds do
 * not interrupt the hold; one past the slow threshold starts it again. A change of path is taken
 * at most once per `dwellMs`, except a change to strong for any reason other than the replicas
 * having drawn level again (budget exceeded, estimates missing), which is taken at once. The
 * estimates are this process's own observations: nothing here needs memory shared with other
 * processes for correctness (an unknown estimate means plain strong).
 */
import type { Clock } from '../clock.js';
import { percentile } from './health.js';

export type WritePathKind = 'strong' | 'deadline';

/** Why a path was proposed. */
export type WritePathCause = 'off' | 'single' | 'unknown' | 'unreachable' | 'over-budget' | 'level' | 'slow-majority';

export const WRITE_PATH = {
  /**
   * The majority-th replica counts as slow above slowFactor × fastest + slowMarginMs: a strong
   * write then costs more than 1.2 times an available one, the most the adaptive strategy may
   * cost beside the better fixed one (the margin keeps the jitter of fast replicas from counting).
   */
  slowFactor: 1.2,
  slowMarginMs: 15,
  /** On the deadline path, the replicas are level again at or below levelFactor × fastest + levelMarginMs. */
  levelFactor: 1.1,
  levelMarginMs: 10,
  /** The deadline path waits waitFactor × fastest for a majority, clamped to [minWaitMs, maxWaitMs]. */
  waitFactor: 1.2,
  minWaitMs: 10,
  maxWaitMs: 1000,
  /** Successful writes kept per replica for its estimate, and how long one counts. */
  windowOps: 20,
  maxAgeMs: 60_000,
  /** Least time between two changes of path (except an immediate return to strong). */
  dwellMs: 1000,
  /** How long the replicas must stay level before the deadline path returns to strong. */
  levelHoldMs: 3000,
} as const;

export interface ReplicaWriteEstimate {
  region: string;
  reachable: boolean;
  /** Median of the recent successful writes (ms), if any. */
  p50Ms: number | null;
  /** P95 of the recent successful writes (ms), if any (shown, not decided on). */
  p95Ms: number | null;
  /** Age of the oldest write still in flight (ms), if any. */
  inFlightAgeMs: number | null;
  /** The estimate: max of the median and the in-flight age; Infinity when unreachable; null when nothing is known. */
  estimateMs: number | null;
  /** Successful writes the median and the P95 were taken over. */
  samples: number;
}

export interface WritePathProposal {
  path: WritePathKind;
  cause: WritePathCause;
  reason: string;
  /** Deadline path: how long a write waits for a majority (ms). */
  waitMs?: number;
  fastestMs?: number;
  majorityMs?: number;
}

const round = (x: number): number => Math.round(x * 10) / 10;
const fmtMs = (x: number): string => (Number.isFinite(x) ? `${Math.round(x)} ms` : '∞');

/** How long a deadline-path write waits for a majority, from the fastest replica's estimate. */
export function majorityWaitMs(fastestMs: number): number {
  return Math.round(Math.min(WRITE_PATH.maxWaitMs, Math.max(WRITE_PATH.minWaitMs, WRITE_PATH.waitFactor * fastestMs)));
}

/** Whether a proposal's figures are past the threshold that takes the deadline path from strong. */
function pastWayIn(p: WritePathProposal): boolean {
  return p.fastestMs !== undefined && p.majorityMs !== undefined && p.majorityMs > WRITE_PATH.slowFactor * p.fastestMs + WRITE_PATH.slowMarginMs;
}

/** The path the estimates call for (pure; no dwell). `current` applies the hysteresis of the way back to strong. */
export function proposeWritePath(estimates: readonly ReplicaWriteEstimate[], quorum: number, budgetMs: number, current: WritePathKind = 'strong'): WritePathProposal {
  if (budgetMs <= 0) return { path: 'strong', cause: 'off', reason: 'latency-aware writes are off (durability budget 0)' };
  if (quorum <= 1 || estimates.length < 2) return { path: 'strong', cause: 'single', reason: 'one copy is a majority: nothing to wait for' };
  const unknown = estimates.filter((e) => e.reachable && e.estimateMs === null).map((e) => e.region);
  if (unknown.length > 0) return { path: 'strong', cause: 'unknown', reason: `no recent write latency for ${unknown.join(', ')}: writes wait for a majority` };
  const sorted = estimates
    .map((e) => ({ region: e.region, ms: e.reachable ? (e.estimateMs as number) : Number.POSITIVE_INFINITY }))
    .sort((a, b) => a.ms - b.ms);
  const fastest = sorted[0] as { region: string; ms: number };
  const majorityTh = sorted[Math.min(quorum, sorted.length) - 1] as { region: string; ms: number };
  const figures = { fastestMs: round(fastest.ms), majorityMs: round(majorityTh.ms) };
  if (!Number.isFinite(fastest.ms)) return { path: 'strong', cause: 'unreachable', reason: 'no replica is reachable' };
  if (majorityTh.ms > budgetMs) {
    return {
      path: 'strong',
      cause: 'over-budget',
      reason: `the majority-th fastest replica (${majorityTh.region}, ${fmtMs(majorityTh.ms)}) is beyond the durability budget of ${budgetMs} ms: writes wait for a majority`,
      ...(Number.isFinite(majorityTh.ms) ? figures : { fastestMs: figures.fastestMs }),
    };
  }
  const [factor, margin] = current === 'deadline' ? [WRITE_PATH.levelFactor, WRITE_PATH.levelMarginMs] : [WRITE_PATH.slowFactor, WRITE_PATH.slowMarginMs];
  const rule = `${factor} × the fastest (${fastest.region}, ${fmtMs(fastest.ms)}) + ${margin} ms`;
  if (majorityTh.ms > factor * fastest.ms + margin) {
    const waitMs = majorityWaitMs(fastest.ms);
    return {
      path: 'deadline',
      cause: 'slow-majority',
      reason:
        `the majority-th fastest replica (${majorityTh.region}, ${fmtMs(majorityTh.ms)}) is slower than ${rule} ` +
        `and within the durability budget of ${budgetMs} ms: a write waits at most ${waitMs} ms for a majority, then is acknowledged with the copies it has`,
      waitMs,
      ...figures,
    };
  }
  return {
    path: 'strong',
    cause: 'level',
    reason: `the majority-th fastest replica (${majorityTh.region}, ${fmtMs(majorityTh.ms)}) is within ${rule}: writes wait for a majority`,
    ...figures,
  };
}

/** The write path in force in this process. */
export interface WritePathDecision extends WritePathProposal {
  /** Clock ms of the last change of path in this process; 0 when it never changed. */
  since: number;
  estimates: ReplicaWriteEstimate[];
}

export interface WritePathChange {
  from: WritePathKind;
  to: WritePathKind;
  decision: WritePathDecision;
}

export interface WritePathOptions {
  regions: readonly string[];
  /** ECHOFS_DURABILITY_BUDGET_MS. */
  budgetMs: number;
  clock: Clock;
  /** The health picture's reachability judgement (probes and the data path). */
  reachable: (region: string) => boolean;
  dwellMs?: number;
  levelHoldMs?: number;
  windowOps?: number;
  maxAgeMs?: number;
}

interface Entry {
  /** Successful writes, oldest first: when they ended and how long they took. */
  ok: { at: number; ms: number }[];
  /** Writes in flight: id -> start (clock ms). */
  inFlight: Map<number, number>;
}

export class WritePath {
  private readonly o: WritePathOptions;
  private readonly entries = new Map<string, Entry>();
  private seq = 0;
  private current: { path: WritePathKind; cause: WritePathCause; reason: string; since: number } = {
    path: 'strong',
    cause: 'unknown',
    reason: 'no write observed yet: writes wait for a majority',
    since: 0,
  };
  private changedAt = Number.NEGATIVE_INFINITY;
  /** On the deadline path: when the replicas were found level, with no slow reading since (undefined: not level). */
  private levelSince: number | undefined;

  constructor(o: WritePathOptions) {
    this.o = o;
    for (const r of o.regions) this.entry(r);
  }

  get budgetMs(): number {
    return this.o.budgetMs;
  }

  private entry(region: string): Entry {
    let e = this.entries.get(region);
    if (!e) {
      e = { ok: [], inFlight: new Map() };
      this.entries.set(region, e);
    }
    return e;
  }

  /** A chunk write to `region` starts; call the returned function with its outcome when it ends. */
  begin(region: string): (ok: boolean) => void {
    const e = this.entry(region);
    const id = ++this.seq;
    const started = this.o.clock.now();
    e.inFlight.set(id, started);
    return (ok: boolean) => {
      if (!e.inFlight.delete(id)) return;
      if (!ok) return;
      const at = this.o.clock.now();
      e.ok.push({ at, ms: Math.max(0, at - started) });
      const max = this.o.windowOps ?? WRITE_PATH.windowOps;
      if (e.ok.length > max) e.ok.splice(0, e.ok.length - max);
    };
  }

  estimate(region: string, now = this.o.clock.now()): ReplicaWriteEstimate {
    const e = this.entry(region);
    const from = now - (this.o.maxAgeMs ?? WRITE_PATH.maxAgeMs);
    while (e.ok.length > 0 && (e.ok[0] as { at: number }).at < from) e.ok.shift();
    const samples = e.ok.map((x) => x.ms);
    const p50 = percentile(samples, 50) ?? null;
    const p95 = percentile(samples, 95) ?? null;
    let oldest: number | undefined;
    for (const t of e.inFlight.values()) oldest = oldest === undefined ? t : Math.min(oldest, t);
    const age = oldest === undefined ? null : Math.max(0, now - oldest);
    const reachable = this.o.reachable(region);
    const known = p50 !== null || age !== null ? Math.max(p50 ?? 0, age ?? 0) : null;
    return {
      region,
      reachable,
      p50Ms: p50 === null ? null : round(p50),
      p95Ms: p95 === null ? null : round(p95),
      inFlightAgeMs: age === null ? null : round(age),
      estimateMs: !reachable ? Number.POSITIVE_INFINITY : known === null ? null : round(known),
      samples: e.ok.length,
    };
  }

  estimates(now = this.o.clock.now()): ReplicaWriteEstimate[] {
    return this.o.regions.map((r) => this.estimate(r, now));
  }

  /**
   * The path for a write starting now, and the change of path this call made (if any): the caller
   * audits it. Stays on the current path within `dwellMs` of the last change, except that a return
   * to strong for any reason but the replicas drawing level is taken at once; a return for the
   * replicas drawing level waits until they have been level for `levelHoldMs`.
   */
  evaluate(): { decision: WritePathDecision; change?: WritePathChange } {
    const now = this.o.clock.now();
    const estimates = this.estimates(now);
    const quorum = Math.floor(this.o.regions.length / 2) + 1;
    const p = proposeWritePath(estimates, quorum, this.o.budgetMs, this.current.path);
    const from = this.current.path;
    const level = from === 'deadline' && p.cause === 'level';
    // Between the two thresholds the hold goes on; a reading past the one that takes the deadline
    // path (a slow spell again), or any other cause, starts it again.
    const inBand = from === 'deadline' && p.cause === 'slow-majority' && !pastWayIn(p);
    if (level) this.levelSince ??= now;
    else if (!inBand) this.levelSince = undefined;
    let change: WritePathChange | undefined;
    if (p.path !== from) {
      const immediate = p.path === 'strong' && p.cause !== 'level';
      const dwelt = now - this.changedAt >= (this.o.dwellMs ?? WRITE_PATH.dwellMs);
      const levelLongEnough = !level || now - (this.levelSince ?? now) >= (this.o.levelHoldMs ?? WRITE_PATH.levelHoldMs);
      if (immediate || (dwelt && levelLongEnough)) {
        this.current = { path: p.path, cause: p.cause, reason: p.reason, since: now };
        this.changedAt = now;
        this.levelSince = undefined;
        change = { from, to: p.path, decision: { ...p, since: now, estimates } };
      }
    } else {
      this.current = { ...this.current, cause: p.cause, reason: p.reason };
    }
    if (change) return { decision: change.decision, change };
    if (p.path === this.current.path) return { decision: { ...p, since: this.current.since, estimates } };
    // Held on the current path by the dwell time (or, level again, by the hold): its figures are
    // today's, its reason the one it was taken for.
    const dwellMs = this.o.dwellMs ?? WRITE_PATH.dwellMs;
    const why =
      now - this.changedAt < dwellMs
        ? `the path changed less than ${dwellMs} ms ago`
        : `the replicas have been level for less than ${this.o.levelHoldMs ?? WRITE_PATH.levelHoldMs} ms`;
    const held: WritePathDecision = { path: this.current.path, cause: this.current.cause, reason: `${this.current.reason} (held: ${why})`, since: this.current.since, estimates };
    if (p.fastestMs !== undefined) held.fastestMs = p.fastestMs;
    if (p.majorityMs !== undefined) held.majorityMs = p.majorityMs;
    if (held.path === 'deadline') held.waitMs = majorityWaitMs(p.fastestMs ?? WRITE_PATH.maxWaitMs);
    return { decision: held };
  }
}
