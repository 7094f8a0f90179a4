/**
 * The prober: one tick probes every replica (a small write and read under a timeout), turns the
 * health picture, the replication backlog and the write rate into policy inputs, takes one
 * policy step, persists it with a conditional write, audits a transition and emits metrics.
 */
import { and, count, gt, isNull } from 'drizzle-orm';
import { systemClock, type Clock } from '../clock.js';
import type { ControllerConfig } from '../config.js';
import type { Db } from '../catalog/db.js';
import { fileVersions } from '../catalog/schema.js';
import { logger } from '../observability.js';
import type { ObjectStore } from '../storage/ports.js';
import type { HealthTracker } from './health.js';
import { sampleOfStep } from './history.js';
import { controllerMetrics, type ControllerMetrics } from './metrics.js';
import { normalise, recentChangePenalty, step, type PolicyInputs, type StepResult } from './policy.js';
import type { Backlog } from './reports.js';
import type { ControllerService } from './service.js';
import type { ControllerStore } from './store.js';

export const PROBE_PREFIX = 'probe/';
export const probeKey = (region: string): string => `${PROBE_PREFIX}${region}`;

export interface ProbeResult {
  region: string;
  ok: boolean;
  latencyMs: number;
  error?: string;
}

export interface TickResult {
  probes: ProbeResult[];
  inputs: PolicyInputs;
  backlog: Backlog;
  writesPerSecond: number;
  /** Undefined when another decider stored a sample first (this one was dropped). */
  step?: StepResult;
  conflict: boolean;
}

export interface ProberOptions {
  stores: readonly ObjectStore[];
  store: ControllerStore;
  health: HealthTracker;
  controller: ControllerConfig;
  /** The service whose cache is dropped after a decision (same process). */
  service?: ControllerService;
  backlog?: () => Promise<Backlog>;
  /** Writes per second (e.g. acknowledged versions in the catalog over the last minute). */
  writeRate?: () => Promise<number>;
  metrics?: ControllerMetrics;
  clock?: Clock;
  probeTimeoutMs?: number;
  /** Called with the regions judged reachable again by this tick (e.g. to retry their backlog). */
  onRecovered?: (regions: string[]) => Promise<void> | void;
}

/** Acknowledged file writes per second over the last `windowMs`, from the catalog. */
export function catalogWriteRate(db: Db, windowMs = 60_000, clock: Clock = systemClock): () => Promise<number> {
  return async () => {
    const since = new Date(clock.now() - windowMs);
    const [row] = await db
      .select({ n: count() })
      .from(fileVersions)
      .where(and(gt(fileVersions.createdAt, since), isNull(fileVersions.deletedAt)));
    return Number(row?.n ?? 0) / (windowMs / 1000);
  };
}

/** Run `p` but give up after `ms`, aborting `ctl`. */
async function withTimeout<T>(ms: number, ctl: AbortController, p: (signal: AbortSignal) => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ctl.abort();
      reject(new Error(`timed out after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([p(ctl.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class Prober {
  private readonly o: ProberOptions;
  private readonly clock: Clock;
  private running?: Promise<TickResult>;
  /**
   * The regions this prober left unreachable at the end of its last tick. The data path and the
   * replicator observe the replicas too, and their successes can judge a region reachable again
   * between two ticks; the region still counts as recovered at the next tick, so its backlog is
   * retried at once (without this, a heal seen first by the writes never ran the recovery hook,
   * and the region's backlog waited out its backoff: convergence took 10 s instead of 2).
   */
  private downAfterLastTick = new Set<string>();

  constructor(o: ProberOptions) {
    this.o = o;
    this.clock = o.clock ?? systemClock;
  }

  /** Probe one replica: put a small object under probe/<region>, read it back, compare. */
  async probe(s: ObjectStore): Promise<ProbeResult> {
    const t0 = performance.now();
    const body = Buffer.from(JSON.stringify({ region: s.region, at: this.clock.now() }));
    try {
      await withTimeout(this.o.probeTimeoutMs ?? this.o.controller.probeTimeoutMs, new AbortController(), async (signal) => {
        await s.put(probeKey(s.region), body, signal);
        const back = await s.get(probeKey(s.region), signal);
        if (!back || !back.equals(body)) throw new Error('probe object read back differs from what was written');
      });
      return { region: s.region, ok: true, latencyMs: performance.now() - t0 };
    } catch (err) {
      return { region: s.region, ok: false, latencyMs: performance.now() - t0, error: (err as Error).message };
    }
  }

  /**
   * Probe every replica in parallel. A failed probe is confirmed by a second one at once: two
   * failures in a row judge the replica unreachable within one tick, while a single lost probe
   * followed by a good one does not.
   */
  async probeAll(): Promise<ProbeResult[]> {
    return Promise.all(
      this.o.stores.map(async (s) => {
        let r = await this.probe(s);
        this.o.health.observe(r.region, { ok: r.ok, latencyMs: r.latencyMs, error: r.error });
        if (!r.ok && this.o.health.isReachable(s.region)) {
          r = await this.probe(s);
          this.o.health.observe(r.region, { ok: r.ok, latencyMs: r.latencyMs, error: r.error });
        }
        return r;
      }),
    );
  }

  /** One tick; concurrent calls share the tick in progress. */
  tick(): Promise<TickResult> {
    this.running ??= this.doTick().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async doTick(): Promise<TickResult> {
    const cfg = this.o.controller;
    const regions = this.o.stores.map((s) => s.region);
    // Start from the shared picture: what the data path of every container stored since.
    await this.o.service?.refreshHealth();
    const wasDown = regions.filter((r) => !this.o.health.isReachable(r) || this.downAfterLastTick.has(r));
    const probes = await this.probeAll();
    const recovered = wasDown.filter((r) => this.o.health.isReachable(r));
    this.downAfterLastTick = new Set(regions.filter((r) => !this.o.health.isReachable(r)));
    if (recovered.length > 0 && this.o.onRecovered) {
      try {
        await this.o.onRecovered(recovered);
      } catch (err) {
        logger.warn('recovery hook failed', { regions: recovered, error: err instanceof Error ? err.message : String(err) });
      }
    }
    const snapshots = this.o.health.snapshots(regions);
    const total = regions.length;
    const reachable = snapshots.filter((h) => h.reachable).length;

    const [backlog, writesPerSecond, hints, state] = await Promise.all([
      this.o.backlog
        ? this.o.backlog().catch((err: unknown) => {
            logger.warn('backlog query failed; lag counted as 0', { error: err as Error });
            return { pending: 0, missing: 0, oldestPendingAgeMs: 0 };
          })
        : Promise.resolve({ pending: 0, missing: 0, oldestPendingAgeMs: 0 }),
      this.o.writeRate
        ? this.o.writeRate().catch((err: unknown) => {
            logger.warn('write rate query failed; counted as 0', { error: err as Error });
            return 0;
          })
        : Promise.resolve(this.o.health.writesSince(60_000) / 60),
      this.o.store.hintStats(),
      this.o.store.getState(),
      this.o.store.putHealth(snapshots).catch((err: unknown) => logger.warn('health snapshot not stored', { error: err as Error })),
    ]);

    const now = this.clock.now();
    const hinted = hints.strong + hints.available;
    const inputs: PolicyInputs = {
      partition: total === 0 ? 0 : (total - reachable) / total,
      lag: normalise(backlog.oldestPendingAgeMs, cfg.lagBoundsMs),
      writes: normalise(writesPerSecond, cfg.writeBounds),
      hint: hinted === 0 ? 0 : hints.available / hinted,
      penalty: recentChangePenalty(state.changedAt, now, cfg),
    };
    const result = step(state, { inputs, reachable, total }, now, cfg);
    const saved = await this.o.store.saveState(result.state, state);
    if (!saved) {
      // Another decider stored its sample for this interval first; ours is dropped.
      logger.info('controller state changed concurrently; sample dropped', { version: state.version });
      return { probes, inputs, backlog, writesPerSecond, conflict: true };
    }
    // The dashboard's timeline (history.ts): a lost sample leaves a gap, never fails the tick.
    await this.o.store.recordSample(sampleOfStep(result, now)).catch((err: unknown) => logger.warn('history sample not stored', { error: err as Error }));
    if (result.changed) {
      logger.info('consistency mode changed', { from: result.from, to: result.to, score: result.score, reason: result.reason });
      await this.o.store.appendAudit({
        kind: 'transition',
        actor: 'controller',
        action: result.emergency ? 'emergency_transition' : 'transition',
        reason: result.reason,
        from: result.from,
        to: result.to,
        inputs,
        score: result.score,
        parts: result.parts,
        at: now,
      });
    }
    this.o.service?.invalidate();
    (this.o.metrics ?? controllerMetrics()).tick({
      mode: result.to,
      score: result.score,
      inputs,
      changed: result.changed,
      backlog: backlog.pending,
      lagMs: backlog.oldestPendingAgeMs,
      probes: probes.map((p) => ({ region: p.region, latencyMs: p.ok ? p.latencyMs : undefined, reachable: this.o.health.isReachable(p.region) })),
    });
    return { probes, inputs, backlog, writesPerSecond, step: result, conflict: false };
  }

  /**
   * Tick every `intervalMs` until `budgetMs` has passed or the next tick could not finish before
   * `remainingMs()` runs out (a scheduled Lambda invocation). Returns the number of ticks.
   */
  async runFor(o: { budgetMs: number; intervalMs: number; remainingMs?: () => number; sleep?: (ms: number) => Promise<void> }): Promise<number> {
    const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const start = this.clock.now();
    const tickCost = (this.o.probeTimeoutMs ?? this.o.controller.probeTimeoutMs) + 2000;
    let ticks = 0;
    for (;;) {
      const t0 = this.clock.now();
      try {
        await this.tick();
      } catch (err) {
        logger.error('controller tick failed', { error: err as Error });
      }
      ticks++;
      const next = t0 + o.intervalMs;
      if (next - start >= o.budgetMs) break;
      if (o.remainingMs && o.remainingMs() - Math.max(0, next - this.clock.now()) < tickCost) break;
      await sleep(Math.max(0, next - this.clock.now()));
    }
    return ticks;
  }
}
