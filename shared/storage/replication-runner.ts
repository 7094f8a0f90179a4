/**
 * Replication orchestration: one runner per service container that drains the backlog, runs the
 * anti-entropy sweep and collects garbage, with kicks debounced into one drain and region
 * back-off shared between them. The replicator function (functions/replicator) and the local
 * scheduler (infra/local) only call it.
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config.js';
import type { Catalog } from '../catalog/db.js';
import { systemClock, type Clock } from '../clock.js';
import { logger } from '../observability.js';
import type { HealthSink, ObjectStore } from './ports.js';
import { createReplicaStores } from './s3-store.js';
import { backlogStats, drainBacklog, expediteRegions, RegionBackoff, type BacklogStats, type DrainStats, type ReplicationTrigger } from './replicator.js';
import { sweep, type SweepCursor, type SweepStats } from './antientropy.js';
import { collectGarbage, type GcStats } from './gc.js';

/** What the replicator needs of the service container (`Services` satisfies it). */
export interface ReplicatorServices {
  config: Config;
  catalog: Pick<Catalog, 'db'>;
  /** The storage engine's replicas (region -> store); built from config when absent. */
  storage?: { stores: ReadonlyMap<string, ObjectStore> };
  stores?: ReadonlyMap<string, ObjectStore>;
  health?: HealthSink;
  /** How writes ask for a drain (the Lambda trigger in the cloud; locally runnerFor() installs its runner). */
  replication?: ReplicationTrigger;
  /** The controller: its shared health picture (what the prober and other containers observed) is read before a drain while a region is held off. */
  controller?: { refreshHealth(): Promise<void> };
}

export interface RunnerOptions {
  clock?: Clock;
  workerId?: string;
  batchSize?: number;
  leaseMs?: number;
  /** A drain stops after this long even if the backlog is not empty (ms). */
  drainBudgetMs?: number;
  sweepMaxRows?: number;
  /** Share of swept copies downloaded and verified against their hash. */
  sweepVerifyFraction?: number;
  /** Versions in the bin longer than this are purged for good (default config.trashRetentionSeconds; 0 keeps them). */
  trashRetentionSeconds?: number;
  /** Coalesces kicks arriving within this window into one drain (ms). */
  kickDebounceMs?: number;
  /** tick() sweeps at most this often (ms). */
  sweepEveryMs?: number;
  /** tick() collects garbage at most this often (ms). */
  gcEveryMs?: number;
}

export interface DrainRunStats extends DrainStats {
  batches: number;
  backlog: BacklogStats;
}

export interface ReplicatorRunner extends ReplicationTrigger {
  /** The owner its claims on the backlog carry. */
  readonly workerId: string;
  /** Drain batches until the backlog has nothing claimable or the budget (ms) is spent. */
  drain(budgetMs?: number): Promise<DrainRunStats>;
  /** One bounded anti-entropy pass, continuing where the previous one stopped; no page starts after the budget (ms). */
  sweep(budgetMs?: number): Promise<SweepStats>;
  /** Garbage collection; no chunk starts after the budget (ms), each chunk being one transaction. */
  gc(budgetMs?: number): Promise<GcStats>;
  backlog(): Promise<BacklogStats>;
  /** Ask for a drain soon; kicks within the debounce window share one drain. Never throws. */
  kick(): void;
  /** One scheduled round: a drain, plus a sweep and GC when they are due. */
  tick(): Promise<{ drain: DrainRunStats; sweep?: SweepStats; gc?: GcStats }>;
  /** Resolves when no drain started by kick() is running (tests, shutdown). */
  idle(): Promise<void>;
  /** Regions judged reachable again: forget their cool-down, make their rows due, drain soon. */
  recovered(regions: readonly string[]): Promise<void>;
}

export function createRunner(services: ReplicatorServices, o: RunnerOptions = {}): ReplicatorRunner {
  const clock = o.clock ?? systemClock;
  const workerId = o.workerId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const db = services.catalog.db;
  let stores: ReadonlyMap<string, ObjectStore> | undefined = services.stores ?? services.storage?.stores;
  const getStores = () => (stores ??= createReplicaStores(services.config));
  const regionBackoff = new RegionBackoff();
  let sweepCursor: SweepCursor | undefined;
  let draining: Promise<DrainRunStats> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let kicked: Promise<unknown> = Promise.resolve();
  let lastSweep = clock.now();
  let lastGc = clock.now();

  const drainOnce = async (budget: number): Promise<DrainRunStats> => {
    const started = clock.now();
    // A region held off may have been seen back by the prober of another container (the cloud):
    // take the shared picture first, so the drain ends that cool-down (drainBacklog).
    if (services.controller && regionBackoff.open(started).size > 0) await services.controller.refreshHealth();
    const total: DrainRunStats = {
      claimed: 0,
      copied: 0,
      failed: 0,
      deferred: 0,
      badSources: 0,
      orphans: 0,
      adopted: 0,
      dropped: 0,
      unrecoverable: 0,
      skippedRegions: [],
      expedited: 0,
      batches: 0,
      backlog: { pending: 0, missing: 0, unrecoverable: 0, oldestPendingAgeMs: 0 },
    };
    for (;;) {
      const s = await drainBacklog({
        db,
        stores: getStores(),
        health: services.health,
        workerId,
        batchSize: o.batchSize ?? 100,
        clock,
        leaseMs: o.leaseMs ?? 60_000,
        regionBackoff,
        // No copy starts after the budget: a caller with a hard limit stops with nothing half-done.
        deadline: started + budget,
      });
      total.batches += 1;
      total.claimed += s.claimed;
      total.copied += s.copied;
      total.failed += s.failed;
      total.deferred += s.deferred;
      total.badSources += s.badSources;
      total.orphans += s.orphans;
      total.adopted += s.adopted;
      total.dropped += s.dropped;
      total.unrecoverable += s.unrecoverable;
      total.expedited += s.expedited;
      total.skippedRegions = [...new Set([...total.skippedRegions, ...s.skippedRegions])];
      // Stop when nothing was claimable, or nothing progressed (everything left is backing off).
      if (s.claimed === 0 || s.copied + s.orphans + s.adopted + s.dropped + s.unrecoverable === 0 || clock.now() - started >= budget) break;
    }
    total.backlog = await backlogStats(db, clock);
    return total;
  };

  const drain = (budgetMs = o.drainBudgetMs ?? 20_000): Promise<DrainRunStats> => {
    // One drain at a time per runner; a request during a drain is served by one more pass.
    if (draining) {
      again = true;
      return draining;
    }
    const run = (async () => {
      try {
        let stats = await drainOnce(budgetMs);
        while (again) {
          again = false;
          stats = await drainOnce(budgetMs);
        }
        return stats;
      } finally {
        draining = undefined;
      }
    })();
    draining = run;
    return run;
  };

  const kick = () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      kicked = drain().catch((err: unknown) => logger.warn('replication drain failed', { error: err instanceof Error ? err.message : String(err) }));
    }, o.kickDebounceMs ?? 200);
    timer.unref?.();
  };

  const runner: ReplicatorRunner = {
    workerId,
    drain,
    async tick() {
      const out: { drain: DrainRunStats; sweep?: SweepStats; gc?: GcStats } = { drain: await drain() };
      if (clock.now() - lastSweep >= (o.sweepEveryMs ?? 60_000)) {
        lastSweep = clock.now();
        out.sweep = await runner.sweep();
      }
      if (clock.now() - lastGc >= (o.gcEveryMs ?? 10 * 60_000)) {
        lastGc = clock.now();
        out.gc = await runner.gc();
      }
      return out;
    },
    async sweep(budgetMs) {
      const s = await sweep({
        deadline: budgetMs === undefined ? undefined : clock.now() + budgetMs,
        db,
        stores: getStores(),
        health: services.health,
        clock,
        cursor: sweepCursor,
        maxRows: o.sweepMaxRows ?? 5000,
        verifyFraction: o.sweepVerifyFraction ?? 0.05,
      });
      sweepCursor = s.cursor;
      if (s.markedMissing > 0) kick();
      return s;
    },
    gc(budgetMs) {
      return collectGarbage({
        deadline: budgetMs === undefined ? undefined : clock.now() + budgetMs,
        db,
        stores: getStores(),
        health: services.health,
        clock,
        graceSeconds: services.config.gcGraceSeconds,
        trashRetentionSeconds: o.trashRetentionSeconds ?? services.config.trashRetentionSeconds,
      });
    },
    backlog: () => backlogStats(db, clock),
    kick,
    async recovered(regions) {
      for (const r of regions) regionBackoff.success(r);
      const due = await expediteRegions(db, regions, new Date(clock.now()));
      logger.info('regions recovered: backlog made due', { regions: [...regions], rows: due });
      kick();
    },
    async idle() {
      while (timer || draining) {
        if (timer) await new Promise((r) => setTimeout(r, o.kickDebounceMs ?? 200));
        await kicked;
        if (draining) await draining.catch(() => undefined);
      }
    },
  };
  return runner;
}

const runners = new WeakMap<object, ReplicatorRunner>();

/**
 * The one runner of a service container (so timers and kicks share claims and region backoff).
 * When the container has no replication trigger yet (locally), the runner becomes it: writes that
 * leave a backlog then kick an in-process drain.
 */
export function runnerFor(services: ReplicatorServices, o?: RunnerOptions): ReplicatorRunner {
  let r = runners.get(services);
  if (!r) {
    r = createRunner(services, o);
    runners.set(services, r);
    services.replication ??= r;
  }
  return r;
}

/**
 * Ask the replicator to drain soon. Uses the container's trigger when it has one (in the cloud an
 * asynchronous invoke of the replicator function, see createLambdaTrigger); otherwise an
 * in-process drain, debounced. Never throws and never waits: it is called on the write path.
 */
export function kickReplicator(services: ReplicatorServices): void {
  if (services.replication) services.replication.kick();
  else runnerFor(services).kick();
}

/** One scheduled round of the container's runner: drain every tick, sweep and GC less often. */
export async function run(services: ReplicatorServices): Promise<unknown> {
  return runnerFor(services).tick();
}
