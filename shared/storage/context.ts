/**
 * What every part of the storage engine shares: the catalog repository, the replicas, the mode
 * source and health sink, the clock; replica calls timed into health; background work tracked
 * (so tests and shutdown can wait for it); the backlog kick; the quorum and the hybrid deadline.
 */
import type { Mode } from '../config.js';
import { DrizzleCatalogRepository, type CatalogRepository } from '../catalog/repository.js';
import { systemClock, type Clock } from '../clock.js';
import { logger } from '../observability.js';
import { majority } from './acks.js';
import { HealthTracker } from '../controller/health.js';
import { fixedMode, type HealthSink, type ModeDecision, type ModeSource, type ObjectStore } from './ports.js';
import type { EngineConfig, HybridDeadline, SessionHashWait, StorageEngineDeps } from './types.js';

export function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class EngineContext {
  readonly catalog: CatalogRepository;
  readonly stores: Map<string, ObjectStore>;
  readonly regions: string[];
  readonly config: EngineConfig;
  readonly modeSource: ModeSource;
  readonly health: HealthSink;
  readonly clock: Clock;
  readonly uploadConcurrency: number;
  readonly presignSeconds: number;
  readonly sessionHash: SessionHashWait;
  onBacklog?: () => void;
  private readonly hybrid: HybridDeadline;
  private readonly background = new Set<Promise<unknown>>();

  constructor(deps: StorageEngineDeps) {
    this.catalog = deps.catalog ?? new DrizzleCatalogRepository(deps.db);
    this.stores = deps.stores;
    this.regions = [...deps.stores.keys()];
    if (this.regions.length === 0) throw new Error('the storage engine needs at least one replica');
    this.config = deps.config;
    this.modeSource = deps.modeSource ?? fixedMode(deps.config.mode);
    this.health = deps.health ?? new HealthTracker(this.regions);
    this.clock = deps.clock ?? systemClock;
    this.onBacklog = deps.onBacklog;
    this.hybrid = { factor: 3, minMs: 50, maxMs: 1000, ...(deps.hybridDeadline ?? {}) };
    this.uploadConcurrency = deps.uploadConcurrency ?? 4;
    this.presignSeconds = deps.presignSeconds ?? 900;
    this.sessionHash = { waitMs: 5000, graceMs: 250, ...(deps.sessionHash ?? {}) };
  }

  get quorum(): number {
    return majority(this.regions.length);
  }

  now(): Date {
    return new Date(this.clock.now());
  }

  store(region: string): ObjectStore {
    const s = this.stores.get(region);
    if (!s) throw new Error(`no replica for region ${region}`);
    return s;
  }

  /** The mode of one object (by file name) for one owner. */
  decide(ownerId: string, name?: string): Promise<ModeDecision> {
    return this.modeSource.modeFor(ownerId, name);
  }

  /** Copies a chunk needs before a commit may count on it: a majority in strong mode (not on its deadline path), else one. */
  copiesNeeded(decision: Pick<ModeDecision, 'mode' | 'writePath'>): number {
    return decision.mode === 'C' && !decision.writePath ? this.quorum : 1;
  }

  /**
   * The mode a write is acknowledged under, from the mode it was decided under and the regions
   * holding it: a strong write on the deadline path that holds fewer than a majority is hybrid.
   */
  ackMode(decision: Pick<ModeDecision, 'mode' | 'writePath'>, holders: number): Mode {
    return decision.mode === 'C' && decision.writePath && holders < this.quorum ? 'H' : decision.mode;
  }

  /** Wait for background replica work that outlived its request (tests, shutdown). */
  async drain(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  track(p: Promise<unknown>): void {
    const q = p.catch((err: unknown) => logger.warn('background storage task failed', { error: errMessage(err) })).finally(() => this.background.delete(q));
    this.background.add(q);
  }

  kick(): void {
    try {
      this.onBacklog?.();
    } catch (err) {
      logger.warn('backlog hook failed', { error: errMessage(err) });
    }
  }

  /** Hand the health observations of this request to the sink's store, before the response. */
  async flushHealth(): Promise<void> {
    await this.health.flush?.().catch((err: unknown) => logger.warn('health flush failed', { error: errMessage(err) }));
  }

  hybridDeadlineMs(): number {
    let worst = 0;
    for (const r of this.regions) worst = Math.max(worst, this.health.latency?.(r) ?? 0);
    return Math.min(this.hybrid.maxMs, Math.max(this.hybrid.minMs, worst * this.hybrid.factor));
  }

  /** A chunk write to one replica: timed into health, and into the write latency estimates. */
  async timedWrite<T>(region: string, op: () => Promise<T>): Promise<T> {
    const end = this.health.writeStarted?.(region);
    try {
      const v = await this.timed(region, op);
      end?.(true);
      return v;
    } catch (err) {
      end?.(false);
      throw err;
    }
  }

  /** Run one replica call and report its outcome to the health sink (not when we cancelled it ourselves). */
  async timed<T>(region: string, op: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const t0 = performance.now();
    try {
      const v = await op();
      this.health.observe(region, { ok: true, latencyMs: performance.now() - t0 });
      return v;
    } catch (err) {
      if (!signal?.aborted) this.health.observe(region, { ok: false, latencyMs: performance.now() - t0, error: errMessage(err) });
      throw err;
    }
  }
}
