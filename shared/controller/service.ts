/**
 * The controller as the rest of EchoFS sees it: the ModeSource and HealthSink of the storage
 * engine (a sub-millisecond lookup in the cached snapshot, hints included, on the hot path) and
 * the operations behind the controller API (hints, overrides, critical keys, health, status,
 * audit). An operator change is answered only once every container's cache holds it (see
 * snapshot-cache.ts).
 */
import { eq } from 'drizzle-orm';
import type { ControllerConfig, Mode } from '../config.js';
import { DEFAULT_CONTROLLER } from '../config.js';
import type { Db } from '../catalog/db.js';
import { files } from '../catalog/schema.js';
import { NotFound } from '../errors.js';
import { logger } from '../observability.js';
import type { HealthSink, ModeDecision, ModeSource } from '../storage/ports.js';
import { HealthTracker, type ReplicaHealth } from './health.js';
import { SnapshotCache } from './snapshot-cache.js';
import { resolveMode, type Hint, type ScoreParts, type PolicyInputs, type Sample } from './policy.js';
import type { AuditEntry, AuditPage, ControllerStore, ControlSnapshot, CriticalKeyInfo } from './store.js';

/** The owner and name of a file (the catalog); undefined when no file has this id. */
export interface FileOwners {
  lookup(fileId: string): Promise<{ ownerId: string; name: string } | undefined>;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function catalogOwners(db: Db): FileOwners {
  return {
    async lookup(fileId) {
      if (!UUID_RE.test(fileId)) return undefined;
      const [row] = await db.select({ ownerId: files.ownerId, name: files.name }).from(files).where(eq(files.id, fileId)).limit(1);
      return row;
    },
  };
}

export interface Backlog {
  pending: number;
  missing: number;
  oldestPendingAgeMs: number;
}

export interface ControllerServiceOptions {
  store: ControllerStore;
  regions: readonly string[];
  controller?: ControllerConfig;
  health?: HealthTracker;
  owners?: FileOwners;
  /** The replication backlog (catalog); omitted → reported as empty. */
  backlog?: () => Promise<Backlog>;
  now?: () => number;
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

export class ControllerService implements ModeSource, HealthSink {
  readonly health: HealthTracker;
  readonly regions: readonly string[];
  readonly store: ControllerStore;
  private readonly cfg: ControllerConfig;
  private readonly owners?: FileOwners;
  private readonly backlogFn?: () => Promise<Backlog>;
  private readonly now: () => number;
  private readonly cache: SnapshotCache;
  /** Regions observed on the data path since the last flush. */
  private readonly observed = new Set<string>();
  private readonly flushedReachable = new Map<string, boolean>();
  private flushedAt = -Infinity;

  constructor(o: ControllerServiceOptions) {
    this.store = o.store;
    this.regions = o.regions;
    this.cfg = o.controller ?? DEFAULT_CONTROLLER;
    this.health = o.health ?? new HealthTracker(o.regions, { now: o.now });
    this.owners = o.owners;
    this.backlogFn = o.backlog;
    this.now = o.now ?? Date.now;
    this.cache = new SnapshotCache({
      read: () => this.store.snapshot(),
      clock: { now: this.now },
      ttlMs: this.cfg.modeCacheMs,
      onRead: (s) => this.health.adopt(s.health),
      sleep: o.sleep,
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
   * The mode of one object. The data path names an object by its file name and owner; an object
   * id given to the API is matched as is and, for a file, as '<owner id>/<name>' too, so a key,
   * override or hint may name either.
   */
  async modeFor(objectId: string | undefined, ownerId?: string): Promise<ModeDecision> {
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
    return { mode: r.mode, reason: r.reason, hedgeReads: true };
  }

  async modeAnswer(objectId: string | undefined): Promise<ModeAnswer> {
    const d = await this.modeFor(objectId);
    return { object_id: objectId ?? null, mode: d.mode, reason: d.reason, timestamp: new Date(this.now()).toISOString() };
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
    if (!flipped && this.now() - this.flushedAt < this.cfg.modeCacheMs) return;
    this.observed.clear();
    this.flushedAt = this.now();
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

  // ---- operations (controller API) ---------------------------------------------------------

  /** Set an object's hint: its owner or an admin; an id that is no file only for admins. */
  async setHint(actor: Actor, objectId: string, hint: Hint): Promise<{ object_id: string; hint: Hint }> {
    const file = this.owners ? await this.owners.lookup(objectId) : undefined;
    if (actor.role !== 'admin' && (file === undefined || file.ownerId !== actor.id)) {
      throw new NotFound(`No file with id '${objectId}' that you own.`, 'file_not_found');
    }
    await this.store.setHint(objectId, hint, actor.id);
    if (file) {
      // The data path asks by owner and name.
      await this.store.setHint(objectKey(file.ownerId, file.name), hint, actor.id);
    }
    const storedAt = this.now();
    await this.audit(actor, 'set_hint', `hint '${hint}' for ${objectId}`, { objectId, detail: { hint } });
    await this.changed(storedAt);
    return { object_id: objectId, hint };
  }

  async setOverride(actor: Actor, mode: Mode, objectId?: string): Promise<{ mode: Mode; object_id: string | null }> {
    const last = this.cache.last;
    const before = objectId === undefined ? last?.globalOverride?.mode : last?.objectOverrides.get(objectId)?.mode;
    await this.store.setOverride(mode, actorName(actor), objectId);
    const storedAt = this.now();
    await this.audit(actor, 'set_override', objectId ? `override ${objectId} to ${mode}` : `global override to ${mode}`, {
      objectId,
      from: before,
      to: mode,
    });
    await this.changed(storedAt);
    return { mode, object_id: objectId ?? null };
  }

  async clearOverride(actor: Actor, objectId?: string): Promise<{ cleared: boolean; object_id: string | null }> {
    const old = await this.store.clearOverride(objectId);
    const storedAt = this.now();
    if (old) {
      await this.audit(actor, 'clear_override', objectId ? `override of ${objectId} removed` : 'global override removed', {
        objectId,
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

  async addCriticalKey(actor: Actor, key: string): Promise<void> {
    await this.store.addCriticalKey(key, actorName(actor));
    const storedAt = this.now();
    await this.audit(actor, 'add_critical_key', `${key} is critical: always strong`, { objectId: key });
    await this.changed(storedAt);
  }

  async removeCriticalKey(actor: Actor, key: string): Promise<boolean> {
    const removed = await this.store.removeCriticalKey(key);
    const storedAt = this.now();
    if (removed) await this.audit(actor, 'remove_critical_key', `${key} is no longer critical`, { objectId: key });
    await this.changed(storedAt);
    return removed;
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
    const replicas = this.health.snapshots(this.regions);
    const reachable = replicas.filter((r) => r.reachable).length;
    const quorum = Math.floor(this.regions.length / 2) + 1;
    const status = !storeOk || reachable === 0 ? 'unhealthy' : reachable < this.regions.length ? 'degraded' : 'healthy';
    return {
      status,
      mode: snap?.state.mode,
      replicas: replicas.map(replicaView),
      reachable,
      total: this.regions.length,
      quorum_available: reachable >= quorum,
      controller_store: storeOk ? 'ok' : 'unavailable',
      timestamp: new Date(this.now()).toISOString(),
    };
  }

  async status(): Promise<StatusReport> {
    this.invalidate();
    const snap = await this.cache.get();
    const s = snap.state;
    let backlog: Backlog = { pending: 0, missing: 0, oldestPendingAgeMs: 0 };
    if (this.backlogFn) {
      try {
        backlog = await this.backlogFn();
      } catch (err) {
        logger.warn('backlog query failed', { error: err as Error });
      }
    }
    const recent = await this.store.listAudit({ limit: 50 });
    return {
      mode: s.mode,
      score: s.lastScore ?? null,
      parts: s.lastParts ?? null,
      inputs: s.lastInputs ?? null,
      thresholds: { available_above: this.cfg.thresholdA, strong_below: this.cfg.thresholdC },
      hysteresis_samples: this.cfg.samples,
      samples: s.samples,
      version: s.version,
      changed_at: s.changedAt > 0 ? new Date(s.changedAt).toISOString() : null,
      updated_at: s.updatedAt > 0 ? new Date(s.updatedAt).toISOString() : null,
      global_override: snap.globalOverride?.mode ?? null,
      object_overrides: snap.objectOverrides.size,
      critical_keys: snap.criticalKeys.size,
      replicas: this.health.snapshots(this.regions).map(replicaView),
      backlog: { pending: backlog.pending, missing: backlog.missing },
      replication_lag_ms: backlog.oldestPendingAgeMs,
      transitions: recent.entries.filter((e) => e.kind === 'transition').slice(0, 10),
      timestamp: new Date(this.now()).toISOString(),
    };
  }
}

/** How the data path's (owner, name) pair is keyed in hints, overrides and critical keys. */
export function objectKey(ownerId: string, name: string): string {
  return `${ownerId}/${name}`;
}

/** A critical key matches the object id exactly, or as a prefix when it ends with '*'. */
function isCritical(keys: ReadonlyMap<string, unknown>, objectId: string): boolean {
  if (keys.size === 0) return false;
  if (keys.has(objectId)) return true;
  for (const k of keys.keys()) if (k.endsWith('*') && objectId.startsWith(k.slice(0, -1))) return true;
  return false;
}

export interface ReplicaView {
  region: string;
  reachable: boolean;
  latency_ewma_ms: number | null;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  error_rate: number;
  consecutive_failures: number;
  last_ok_at: string | null;
  last_error_at: string | null;
  last_error: string | null;
}

function replicaView(h: ReplicaHealth): ReplicaView {
  const iso = (t?: number) => (t ? new Date(t).toISOString() : null);
  const ms = (x?: number) => (x === undefined ? null : Math.round(x * 10) / 10);
  return {
    region: h.region,
    reachable: h.reachable,
    latency_ewma_ms: ms(h.ewmaMs),
    latency_p50_ms: ms(h.p50Ms),
    latency_p95_ms: ms(h.p95Ms),
    error_rate: h.errorRate,
    consecutive_failures: h.consecutiveFailures,
    last_ok_at: iso(h.lastOkAt),
    last_error_at: iso(h.lastErrorAt),
    last_error: h.lastError ?? null,
  };
}

export interface HealthReport {
  status: 'healthy' | 'degraded' | 'unhealthy';
  mode?: Mode;
  replicas: ReplicaView[];
  reachable: number;
  total: number;
  quorum_available: boolean;
  controller_store: 'ok' | 'unavailable';
  timestamp: string;
}

export interface StatusReport {
  mode: Mode;
  score: number | null;
  parts: ScoreParts | null;
  inputs: PolicyInputs | null;
  thresholds: { available_above: number; strong_below: number };
  hysteresis_samples: number;
  samples: Sample[];
  version: number;
  changed_at: string | null;
  updated_at: string | null;
  global_override: Mode | null;
  object_overrides: number;
  critical_keys: number;
  replicas: ReplicaView[];
  backlog: { pending: number; missing: number };
  replication_lag_ms: number;
  transitions: AuditEntry[];
  timestamp: string;
}
