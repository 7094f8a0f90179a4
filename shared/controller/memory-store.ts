/**
 * An in-memory ControllerStore for unit tests: the same rules as the DynamoDB adapter (conditional
 * state writes, 'none' removes a hint, newest-first audit pages) without an emulator.
 */
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import type { Mode } from '../config.js';
import { BadRequest } from '../errors.js';
import type { ReplicaHealth } from './health.js';
import { HISTORY_TTL_MS, type HistorySample, type HistoryWindow } from './history.js';
import { initialState, type ControllerState, type Hint } from './policy.js';
import type { AuditEntry, AuditPage, ControllerStore, ControlSnapshot, CriticalKeyInfo, OverrideInfo } from './store.js';

export class MemoryControllerStore implements ControllerStore {
  state: ControllerState = initialState();
  readonly overrides = new Map<string, OverrideInfo>();
  readonly criticalKeys = new Map<string, CriticalKeyInfo>();
  readonly hints = new Map<string, Exclude<Hint, 'none'>>();
  readonly health = new Map<string, ReplicaHealth>();
  /** Oldest first. */
  readonly audit: AuditEntry[] = [];
  /** Oldest first. */
  readonly samples: HistorySample[] = [];
  private readonly clock: Clock;

  constructor(o: { clock?: Clock } = {}) {
    this.clock = o.clock ?? systemClock;
  }

  async ping(): Promise<void> {}

  async getState(): Promise<ControllerState> {
    return structuredClone(this.state);
  }

  async saveState(next: ControllerState, expected: Pick<ControllerState, 'version' | 'mode'>): Promise<boolean> {
    if (this.state.version !== expected.version || this.state.mode !== expected.mode) return false;
    this.state = structuredClone(next);
    return true;
  }

  async snapshot(): Promise<ControlSnapshot> {
    const objectOverrides = new Map([...this.overrides].filter(([k]) => k !== '*'));
    return {
      state: structuredClone(this.state),
      globalOverride: this.overrides.get('*'),
      objectOverrides,
      criticalKeys: new Map(this.criticalKeys),
      hints: new Map(this.hints),
      health: [...this.health.values()].map((h) => ({ ...h })),
    };
  }

  async setOverride(mode: Mode, actor: string, objectId?: string): Promise<void> {
    this.overrides.set(overrideKey(objectId), { mode, actor, at: this.clock.now() });
  }

  async clearOverride(objectId?: string): Promise<OverrideInfo | undefined> {
    const key = overrideKey(objectId);
    const old = this.overrides.get(key);
    this.overrides.delete(key);
    return old;
  }

  async addCriticalKey(key: string, actor: string): Promise<void> {
    this.criticalKeys.set(key, { key, actor, at: this.clock.now() });
  }

  async removeCriticalKey(key: string): Promise<boolean> {
    return this.criticalKeys.delete(key);
  }

  async putHealth(snapshots: readonly ReplicaHealth[]): Promise<void> {
    for (const s of snapshots) this.health.set(s.region, { ...s });
  }

  async getHint(objectId: string): Promise<Hint> {
    return this.hints.get(objectId) ?? 'none';
  }

  async setHint(objectId: string, hint: Hint): Promise<void> {
    if (hint === 'none') this.hints.delete(objectId);
    else this.hints.set(objectId, hint);
  }

  async hintStats(): Promise<{ strong: number; available: number }> {
    const out = { strong: 0, available: 0 };
    for (const h of this.hints.values()) out[h]++;
    return out;
  }

  async appendAudit(e: Omit<AuditEntry, 'id' | 'at'> & { at?: number }): Promise<AuditEntry> {
    const entry: AuditEntry = { ...e, id: randomUUID(), at: e.at ?? this.clock.now() };
    this.audit.push(entry);
    return entry;
  }

  async listAudit(o: { limit?: number; cursor?: string } = {}): Promise<AuditPage> {
    const limit = Math.min(Math.max(o.limit ?? 50, 1), 500);
    const newest = [...this.audit].reverse();
    let start = 0;
    if (o.cursor !== undefined) {
      start = newest.findIndex((e) => e.id === o.cursor) + 1;
      if (start === 0) throw new BadRequest("Field 'cursor' is invalid: pass the cursor of a previous page.", 'invalid_field', { field: 'cursor' });
    }
    const entries = newest.slice(start, start + limit);
    return { entries, cursor: start + limit < newest.length ? entries.at(-1)?.id : undefined };
  }

  async listAuditBetween(w: HistoryWindow, limit: number): Promise<{ entries: AuditEntry[]; truncated: boolean }> {
    const r = newestWithin(this.audit, w, limit);
    return { entries: r.items, truncated: r.truncated };
  }

  async recordSample(s: HistorySample): Promise<void> {
    this.samples.push(structuredClone(s));
  }

  async listSamples(w: HistoryWindow, limit: number): Promise<{ samples: HistorySample[]; truncated: boolean }> {
    // Expired like the table's TTL: kept 24 h.
    const alive = this.samples.filter((s) => s.at + HISTORY_TTL_MS >= this.clock.now());
    const r = newestWithin(alive, w, limit);
    return { samples: r.items.map((s) => structuredClone(s)), truncated: r.truncated };
  }
}

function newestWithin<T extends { at: number }>(items: readonly T[], w: HistoryWindow, limit: number): { items: T[]; truncated: boolean } {
  const inside = items.filter((x) => x.at >= w.from && x.at <= w.to).sort((a, b) => a.at - b.at);
  return { items: inside.slice(Math.max(0, inside.length - limit)), truncated: inside.length > limit };
}

function overrideKey(objectId: string | undefined): string {
  if (objectId === '*') throw new BadRequest("Field 'object_id' is invalid: '*' is reserved.", 'invalid_field', { field: 'object_id' });
  return objectId ?? '*';
}
