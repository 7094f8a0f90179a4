/**
 * The controller store port: where the controller's shared state lives (mode and its samples,
 * overrides, critical keys, hints, the replicas' health, the audit log). The DynamoDB adapter
 * (dynamo-store.ts) implements it in the cloud and on dynalite locally; memory-store.ts is the
 * in-memory fake for unit tests.
 */
import type { Mode } from '../config.js';
import type { ReplicaHealth } from './health.js';
import type { HistorySample, HistoryWindow } from './history.js';
import type { ControllerState, Hint, PolicyInputs, ScoreParts } from './policy.js';

export interface AuditEntry {
  id: string;
  /** Epoch ms. */
  at: number;
  kind: 'transition' | 'operator';
  /** 'controller' for automatic decisions, else the operator's user id or email. */
  actor: string;
  action: string;
  reason: string;
  from?: Mode;
  to?: Mode;
  objectId?: string;
  inputs?: PolicyInputs;
  score?: number;
  parts?: ScoreParts;
  detail?: Record<string, unknown>;
}

export interface AuditPage {
  entries: AuditEntry[];
  /** Pass back to get the next (older) page; absent on the last page. */
  cursor?: string;
}

export interface OverrideInfo {
  mode: Mode;
  actor: string;
  at: number;
}

export interface CriticalKeyInfo {
  key: string;
  actor: string;
  at: number;
}

/** Everything a mode decision needs: the CTRL partition and the hints, read together. */
export interface ControlSnapshot {
  state: ControllerState;
  globalOverride?: OverrideInfo;
  objectOverrides: Map<string, OverrideInfo>;
  criticalKeys: Map<string, CriticalKeyInfo>;
  /** Hints other than 'none', by object key. */
  hints: Map<string, Exclude<Hint, 'none'>>;
  health: ReplicaHealth[];
}

export interface ControllerStore {
  /** Resolves when the store answers; rejects otherwise (health checks). */
  ping(): Promise<void>;
  /** The decider's state, read consistently. */
  getState(): Promise<ControllerState>;
  /** Persist `next` only if the stored state still has `expected`'s version and mode; false when another decider got there first. */
  saveState(next: ControllerState, expected: Pick<ControllerState, 'version' | 'mode'>): Promise<boolean>;
  /** Everything a mode decision needs, each part read consistently. */
  snapshot(): Promise<ControlSnapshot>;
  /** `objectId` undefined: the global override. */
  setOverride(mode: Mode, actor: string, objectId?: string): Promise<void>;
  /** Returns the override that was removed, if any. */
  clearOverride(objectId?: string): Promise<OverrideInfo | undefined>;
  addCriticalKey(key: string, actor: string): Promise<void>;
  /** Returns true when the key was critical. */
  removeCriticalKey(key: string): Promise<boolean>;
  putHealth(snapshots: readonly ReplicaHealth[]): Promise<void>;
  getHint(objectId: string): Promise<Hint>;
  /** 'none' removes the hint. */
  setHint(objectId: string, hint: Hint, actor: string): Promise<void>;
  /** Counts of hinted objects (for the aggregate hint input). */
  hintStats(cap?: number): Promise<{ strong: number; available: number }>;
  appendAudit(e: Omit<AuditEntry, 'id' | 'at'> & { at?: number }): Promise<AuditEntry>;
  /** Newest first; rejects a cursor that is not one of its own with a 400. */
  listAudit(o?: { limit?: number; cursor?: string }): Promise<AuditPage>;
  /** Audit entries with from <= at <= to, oldest first; past `limit`, the newest `limit` and truncated. */
  listAuditBetween(w: HistoryWindow, limit: number): Promise<{ entries: AuditEntry[]; truncated: boolean }>;
  /** Keep one controller sample for the history (24 h, history.ts). */
  recordSample(s: HistorySample): Promise<void>;
  /** Samples with from <= at <= to, oldest first; past `limit`, the newest `limit` and truncated. */
  listSamples(w: HistoryWindow, limit: number): Promise<{ samples: HistorySample[]; truncated: boolean }>;
}
