/**
 * The controller as the rest of EchoFS sees it: the ModeSource and HealthSink of the storage
 * engine (a sub-millisecond lookup in the cached snapshot, hints included, on the hot path) and
 * the operations behind the controller API (hints, overrides, critical keys, health, status,
 * audit). It owns how a decision is made from a snapshot and how a change is answered; the cache
 * and its lease rule live in snapshot-cache.ts, what a key names in targets.ts, the report shapes
 * in reports.ts. An operator change is answered only once every container's cache holds it.
 */
import { systemClock, type Clock } from '../clock.js';
import type { ControllerConfig, Mode } from '../config.js';
import { DEFAULT_CONTROLLER } from '../config.js';
import { NotFound } from '../errors.js';
import { logger } from '../observability.js';
import type { DeadlinePath, HealthSink, ModeDecision, ModeSource } from '../storage/ports.js';
import { HealthTracker } from './health.js';
import { healthReportOf, statusReportOf, type Backlog, type HealthReport, type StatusReport } from './reports.js';
import { HISTORY_EVENT_CAP, HISTORY_READ_CAP, historyReport, historyWindow, type HistoryReport } from './history.js';
import { SnapshotCache } from './snapshot-cache.js';
import { isCritical, isFileId, objectKey, resolveTarget, type FileOwners, type Protects } from './targets.js';
import { resolveMode, type Hint } from './policy.js';
import { WritePath, type WritePathDecision } from './write-path.js';
import type { AuditEntry, AuditPage, ControllerStore, ControlSnapshot, CriticalKeyInfo } from './store.js';

// The report shapes, where callers of the service have always found them.
export type { Backlog, HealthReport, ReplicaView, StatusReport } from './reports.js';

export interface ControllerServiceOptions {
  store: ControllerStore;
  regions: readonly string[];
  controller?: ControllerConfig;
  health?: HealthTracker;
  owners?: FileOwners;
  /** The replication backlog (catalog); omitted → reported as empty. */
  backlog?: () => Promise<Backlog>;
  clock?: Clock;
  /** How a change waits out other containers' cache leases before it is answered (tests: a fake). */
  sleep?: (ms: number) => Promise<void>;
}

export interface ModeAnswer {
  object_id: string | null;
  mode: Mode;
  reason: string;
  timestamp: string;
}

export interface Actor {
  id: string;
  email?: string;
  role?: 'user' | 'admin';
}

const actorName = (a: Actor): string => a.email ?? a.id;

/** The audit action of a change of write path. */
export const WRITE_PATH_ACTION = 'write_path';

/** What the engine needs of a deadline-path decision; undefined on plain strong. */
function deadlinePathOf(d: WritePathDecision): DeadlinePath | undefined {
  if (d.path !== 'deadline' || d.waitMs === undefined) return undefined;
  const estimatesMs: Record<string, number> = {};
  for (const e of d.estimates) if (e.estimateMs !== null) estimatesMs[e.region] = e.estimateMs;
  return { waitMs: d.waitMs, estimatesMs, reason: `deadline path: ${d.reason}` };
}

const describe = (p: Protects): string => (p.file_id ? `file ${p.file_id} (${p.key})` : p.key);

export class ControllerService implements ModeSource, HealthSink {
  readonly health: HealthTracker;
  readonly regions: readonly string[];
  readonly store: ControllerStore;
  private readonly cfg: ControllerConfig;
  private readonly owners?: FileOwners;
  private readonly backlogFn?: () => Promise<Backlog>;
  private readonly clock: Clock;
  private readonly cache: SnapshotCache;
  /** Regions observed on the data path since the last flush. */
  private readonly observed = new Set<string>();
  private readonly flushedReachable = new Map<string, boolean>();
  private flushedAt = -Infinity;
  /** This process's write latency estimates and the write path of mode C (write-path.ts). */
  readonly writePath: WritePath;

  constructor(o: ControllerServiceOptions) {
    this.store = o.store;
    this.regions = o.regions;
    this.cfg = o.controller ?? DEFAULT_CONTROLLER;
    this.health = o.health ?? new HealthTracker(o.regions, { clock: o.clock });
    this.owners = o.owners;
    this.backlogFn = o.backlog;
    this.clock = o.clock ?? systemClock;
    this.cache = new SnapshotCache({
      read: () => this.store.snapshot(),
      clock: this.clock,
      ttlMs: this.cfg.modeCacheMs,
      onRead: (s) => this.health.adopt(s.health),
      sleep: o.sleep,
    });
    this.writePath = new WritePath({
      regions: o.regions,
      budgetMs: this.cfg.durabilityBudgetMs,
      clock: this.clock,
      reachable: (r) => this.health.isReachable(r),
    });
  }

  // ---- cache -------------------------------------------------------------------------------

  /** Drop cached state so the next lookup reads the store (after a local write or decision). */
  invalidate(): void {
    this.cache.invalidate();
  }

  /**
   * After a change stored at `storedAt`: take it in this process at once, and wait until no other
   * container can still serve a snapshot without it (see SnapshotCache) before the change is answered.
   */
  private async changed(storedAt: number): Promise<void> {
    this.cache.invalidate();
    await this.cache.settle(storedAt);
  }

  // ---- ModeSource --------------------------------------------------------------------------

  /**
   * The mode of one object. The data path names an object by its owner and file name, matched as
   * '<owner id>/<name>' and as the bare name (a key, override or hint may name either); without an
   * owner (an id given to GET /v1/mode) the id is matched as is.
   */
  async modeFor(ownerId: string | undefined, objectId?: string): Promise<ModeDecision> {
    let snap: ControlSnapshot;
    try {
      snap = await this.cache.get();
    } catch (err) {
      // No snapshot that is known to hold every answered change (a critical key may be missing
      // from the last one): strong is the safe default (a write fails rather than degrade).
      logger.warn('controller state unavailable; strong by default', { error: err as Error });
      return { mode: 'C', reason: 'controller state unavailable: strong by default' };
    }
    const controllerMode = snap.state.mode;
    const ids = objectId === undefined ? [] : ownerId ? [objectKey(ownerId, objectId), objectId] : [objectId];
    const critical = ids.some((id) => isCritical(snap.criticalKeys, id));
    const objectOverride = ids.map((id) => snap.objectOverrides.get(id)?.mode).find((m) => m !== undefined);
    const hint: Hint = ids.map((id) => snap.hints.get(id)).find((h) => h !== undefined) ?? 'none';
    const r = resolveMode(controllerMode, { critical, objectOverride, globalOverride: snap.globalOverride?.mode, hint });
    // Reads are always allowed to hedge: chunks are immutable, so a second holder's copy is the
    // same bytes in every mode, and the hedge delay follows observed latency, so a second request
    // goes out only when the first holder is slow (latency stress).
    // The latency-aware write path belongs to the controller's own strong mode only: a critical
    // key, an override or a hint keeps its exact semantics (a majority or a failed write).
    if (r.mode === 'C' && r.source === 'controller') {
      const path = deadlinePathOf(await this.currentWritePath());
      if (path) return { mode: 'C', reason: `${r.reason}; ${path.reason}`, hedgeReads: true, writePath: path };
    }
    return { mode: r.mode, reason: r.reason, hedgeReads: true };
  }

  /**
   * The write path of mode C in this process, from its own write latency estimates. A change is
   * audited (`write_path`) before the request that made it goes on; a failed audit is logged.
   */
  async currentWritePath(): Promise<WritePathDecision> {
    const { decision, change } = this.writePath.evaluate();
    if (change) {
      logger.info('write path changed', { from: change.from, to: change.to, reason: decision.reason });
      await this.store
        .appendAudit({
          kind: 'transition',
          actor: 'controller',
          action: WRITE_PATH_ACTION,
          reason: `write path ${change.from} → ${change.to}: ${decision.reason}`,
          at: decision.since,
          detail: {
            path: change.to,
            from_path: change.from,
            wait_ms: decision.waitMs ?? null,
            fastest_ms: decision.fastestMs ?? null,
            majority_ms: decision.majorityMs ?? null,
            budget_ms: this.writePath.budgetMs,
            estimates_ms: Object.fromEntries(decision.estimates.map((e) => [e.region, e.reachable ? e.estimateMs : null])),
          },
        })
        .catch((err: unknown) => logger.warn('write path change not audited', { error: err as Error }));
    }
    return decision;
  }

  /** GET /v1/mode: a file id is answered as its owner's file; anything else as given. */
  async modeAnswer(objectId: string | undefined): Promise<ModeAnswer> {
    const file = objectId !== undefined && isFileId(objectId) && this.owners ? await this.owners.lookup(objectId) : undefined;
    const d = file ? await this.modeFor(file.ownerId, file.name) : await this.modeFor(undefined, objectId);
    return { object_id: objectId ?? null, mode: d.mode, reason: d.reason, timestamp: new Date(this.clock.now()).toISOString() };
  }

  // ---- HealthSink --------------------------------------------------------------------------

  observe(region: string, outcome: { ok: boolean; latencyMs: number; error?: string }): void {
    this.health.observe(region, outcome);
    this.observed.add(region);
  }

  /** Reachable regions, best first, from the picture as it is (no refresh: see refreshHealth). */
  ranked(regions: readonly string[]): string[] {
    return this.health.ranked(regions);
  }

  /**
   * Explicit refresh: take the shared picture (state, overrides, the health the prober and other
   * containers stored) from the store now. A failure keeps the picture this process has.
   */
  async refreshHealth(): Promise<void> {
    try {
      await this.cache.refresh();
    } catch (err) {
      logger.warn('shared health picture not refreshed', { error: err as Error });
    }
  }

  /**
   * Store what this process observed on the data path, as the prober stores its probes, so every
   * container's controller inputs include it (in the cloud, the files function's observations
   * reach partition risk). Written when a region's reachability changed, else at most once per
   * mode-cache period; awaited by the request that made the observations (no work after it).
   */
  async flush(): Promise<void> {
    if (this.observed.size === 0) return;
    const snaps = this.health.snapshots([...this.observed]);
    const flipped = snaps.some((h) => (this.flushedReachable.get(h.region) ?? true) !== h.reachable);
    if (!flipped && this.clock.now() - this.flushedAt < this.cfg.modeCacheMs) return;
    this.observed.clear();
    this.flushedAt = this.clock.now();
    for (const h of snaps) this.flushedReachable.set(h.region, h.reachable);
    try {
      await this.store.putHealth(snaps);
    } catch (err) {
      for (const h of snaps) this.observed.add(h.region);
      logger.warn('data-path health not stored', { error: err as Error });
    }
  }

  /** Latency EWMA of a region (ms), if measured: the engine derives the hybrid deadline from it. */
  latency(region: string): number | undefined {
    return this.health.ewma(region);
  }

  recordWrite(): void {
    this.health.recordWrite();
  }

  writeStarted(region: string): (ok: boolean) => void {
    return this.writePath.begin(region);
  }

  // ---- operations (controller API) ---------------------------------------------------------
  // Each names its object by file id, name or prefix (targets.ts), and is answered only once every
  // container's next write sees it (changed()).

  /**
   * Set an object's hint: a file id its owner gave, or any file id, name or prefix an admin gave.
   * An unknown file id is a 404.
   */
  async setHint(actor: Actor, objectId: string, hint: Hint): Promise<{ object_id: string; hint: Hint; protects: Protects }> {
    const notYours = () => new NotFound(`No file with id '${objectId}' that you own.`, 'file_not_found');
    if (actor.role !== 'admin' && !isFileId(objectId)) throw notYours();
    const target = await resolveTarget(this.owners, objectId);
    if (actor.role !== 'admin' && target.ownerId !== actor.id) throw notYours();
    await this.store.setHint(target.protects.key, hint, actor.id);
    const storedAt = this.clock.now();
    await this.audit(actor, 'set_hint', `hint '${hint}' for ${describe(target.protects)}`, {
      objectId: target.protects.key,
      detail: { hint, file_id: target.protects.file_id },
    });
    await this.changed(storedAt);
    return { object_id: objectId, hint, protects: target.protects };
  }

  /** A global override (no object), or one for a file id, name or prefix. */
  async setOverride(actor: Actor, mode: Mode, objectId?: string): Promise<{ mode: Mode; object_id: string | null; protects: Protects | null }> {
    const target = objectId === undefined ? undefined : await resolveTarget(this.owners, objectId);
    const key = target?.protects.key;
    const last = this.cache.last;
    const before = key === undefined ? last?.globalOverride?.mode : last?.objectOverrides.get(key)?.mode;
    await this.store.setOverride(mode, actorName(actor), key);
    const storedAt = this.clock.now();
    await this.audit(actor, 'set_override', target ? `override ${describe(target.protects)} to ${mode}` : `global override to ${mode}`, {
      objectId: key,
      from: before,
      to: mode,
      ...(target?.protects.file_id ? { detail: { file_id: target.protects.file_id } } : {}),
    });
    await this.changed(storedAt);
    return { mode, object_id: objectId ?? null, protects: target?.protects ?? null };
  }

  async clearOverride(actor: Actor, objectId?: string): Promise<{ cleared: boolean; object_id: string | null }> {
    const target = objectId === undefined ? undefined : await resolveTarget(this.owners, objectId);
    const old = await this.store.clearOverride(target?.protects.key);
    const storedAt = this.clock.now();
    if (old) {
      await this.audit(actor, 'clear_override', target ? `override of ${describe(target.protects)} removed` : 'global override removed', {
        objectId: target?.protects.key,
        from: old.mode,
      });
    }
    await this.changed(storedAt);
    return { cleared: old !== undefined, object_id: objectId ?? null };
  }

  async listCriticalKeys(): Promise<CriticalKeyInfo[]> {
    this.invalidate();
    const snap = await this.cache.get();
    return [...snap.criticalKeys.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Make a file id, name or prefix critical (always strong); answers what the key protects. */
  async addCriticalKey(actor: Actor, key: string): Promise<Protects> {
    const { protects } = await resolveTarget(this.owners, key);
    await this.store.addCriticalKey(protects.key, actorName(actor));
    const storedAt = this.clock.now();
    await this.audit(actor, 'add_critical_key', `${describe(protects)} is critical: always strong`, {
      objectId: protects.key,
      ...(protects.file_id ? { detail: { file_id: protects.file_id } } : {}),
    });
    await this.changed(storedAt);
    return protects;
  }

  /** Returns what the key protected, or undefined when it was not critical. */
  async removeCriticalKey(actor: Actor, key: string): Promise<Protects | undefined> {
    const { protects } = await resolveTarget(this.owners, key);
    const removed = await this.store.removeCriticalKey(protects.key);
    const storedAt = this.clock.now();
    if (removed) await this.audit(actor, 'remove_critical_key', `${describe(protects)} is no longer critical`, { objectId: protects.key });
    await this.changed(storedAt);
    return removed ? protects : undefined;
  }

  async auditLog(o: { limit?: number; cursor?: string }): Promise<AuditPage> {
    return this.store.listAudit(o);
  }

  private async audit(actor: Actor, action: string, reason: string, extra: Partial<AuditEntry> = {}): Promise<void> {
    await this.store.appendAudit({ kind: 'operator', actor: actorName(actor), action, reason, ...extra });
  }

  async healthReport(): Promise<HealthReport> {
    let snap: ControlSnapshot | undefined;
    let storeOk = true;
    try {
      this.invalidate();
      snap = await this.cache.get();
    } catch (err) {
      storeOk = false;
      logger.warn('controller store unavailable', { error: err as Error });
    }
    return healthReportOf({ snap, storeOk, replicas: this.health.snapshots(this.regions), at: this.clock.now() });
  }

  async status(): Promise<StatusReport> {
    this.invalidate();
    const snap = await this.cache.get();
    let backlog: Backlog = { pending: 0, missing: 0, oldestPendingAgeMs: 0 };
    if (this.backlogFn) {
      try {
        backlog = await this.backlogFn();
      } catch (err) {
        logger.warn('backlog query failed', { error: err as Error });
      }
    }
    const recent = await this.store.listAudit({ limit: 50 });
    const writePath = await this.currentWritePath();
    return statusReportOf({
      snap,
      cfg: this.cfg,
      backlog,
      replicas: this.health.snapshots(this.regions),
      // Mode transitions only: write path changes are audited as transitions too, but are not a mode's reason.
      transitions: recent.entries.filter((e) => e.kind === 'transition' && e.action !== WRITE_PATH_ACTION).slice(0, 10),
      at: this.clock.now(),
      healthWindow: this.health.windowSize,
      writePath,
      lastWritePathChange: recent.entries.find((e) => e.action === WRITE_PATH_ACTION),
    });
  }

  /** GET /v1/history: the stored samples and the audit's timeline events of one window (history.ts: a bad window is a 400). */
  async history(q: { from?: string; to?: string }): Promise<HistoryReport> {
    const w = historyWindow(q, this.clock.now());
    const [s, a] = await Promise.all([this.store.listSamples(w, HISTORY_READ_CAP), this.store.listAuditBetween(w, HISTORY_EVENT_CAP)]);
    return historyReport({ window: w, samples: s.samples, audit: a.entries, truncated: s.truncated || a.truncated });
  }
}
