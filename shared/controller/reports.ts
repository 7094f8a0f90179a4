/**
 * What the controller shows of itself: the health report (GET /health) and the status report
 * (GET /status) built from a snapshot, the health picture and the backlog; pure shaping, no I/O.
 */
import type { ControllerConfig, Mode } from '../config.js';
import type { ReplicaHealth } from './health.js';
import type { PolicyInputs, Sample, ScoreParts } from './policy.js';
import type { AuditEntry, ControlSnapshot } from './store.js';
import { EMPTY_PENDING_COPIES, type PendingCopiesView } from '../storage/backlog-report.js';
import type { WritePathDecision, WritePathKind } from './write-path.js';

export interface Backlog {
  pending: number;
  missing: number;
  oldestPendingAgeMs: number;
  /** The oldest pending copies and the unrecoverable count, for the status (storage/backlog-report.ts). */
  pendingCopies?: PendingCopiesView;
}

export interface ReplicaView {
  region: string;
  reachable: boolean;
  latency_ewma_ms: number | null;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  error_rate: number;
  /** Operations the latency figures and the error rate were taken over (at most the health window). */
  window_operations: number;
  consecutive_failures: number;
  last_ok_at: string | null;
  last_error_at: string | null;
  last_error: string | null;
}

function replicaView(h: ReplicaHealth): ReplicaView {
  const iso = (t?: number) => (t ? new Date(t).toISOString() : null);
  // An unreachable replica has no current latency: figures from before it stopped answering are not reported as one.
  const ms = (x?: number) => (x === undefined || !h.reachable ? null : Math.round(x * 10) / 10);
  return {
    region: h.region,
    reachable: h.reachable,
    latency_ewma_ms: ms(h.ewmaMs),
    latency_p50_ms: ms(h.p50Ms),
    latency_p95_ms: ms(h.p95Ms),
    error_rate: h.errorRate,
    window_operations: h.samples,
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
  /**
   * Why the mode in force holds, stored with the mode by the decision that stored it; empty before
   * the first decision (or when a state stored without it has no matching transition).
   */
  reason: string;
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
  pending_copies: PendingCopiesView;
  transitions: AuditEntry[];
  timestamp: string;
  /** The score's weights (configuration), so a view never assumes the defaults. */
  weights: ControllerConfig['weights'];
  /** Partition risk above this is an emergency (mode A at once). */
  emergency_partition: number;
  /** Replica latency and error rates are over each replica's last `operations` probes and data-path operations. */
  health_window: { operations: number };
  /** The per-object overrides (at most STATUS_LIST_CAP, by object id). */
  object_override_list: { object_id: string; mode: Mode; actor: string; at: string }[];
  /** The stored hints (at most STATUS_LIST_CAP, by object id). */
  hints: { object_id: string; hint: 'strong' | 'available' }[];
  /** Whether the last sample was an emergency (a majority of replicas unreachable or partition risk above the level). */
  emergency: boolean;
  write_path: WritePathView;
}

/** The write path of mode C: this process's decision and estimates, and the last change any process audited. */
export interface WritePathView {
  path: WritePathKind;
  reason: string;
  /** When this process last changed path; null when it never did. */
  since: string | null;
  /** Deadline path: how long a write waits for a majority (ms). */
  wait_ms: number | null;
  fastest_ms: number | null;
  majority_ms: number | null;
  budget_ms: number;
  replicas: { region: string; reachable: boolean; estimate_ms: number | null; p50_ms: number | null; p95_ms: number | null; in_flight_ms: number | null; samples: number }[];
  /** The newest write path change in the audit log (any process), if among the recent entries. */
  last_change: { at: string; path: WritePathKind | null; reason: string } | null;
}

const finite = (x: number | null | undefined): number | null => (x === null || x === undefined || !Number.isFinite(x) ? null : x);

export function writePathView(d: WritePathDecision, budgetMs: number, last?: AuditEntry): WritePathView {
  const lastPath = last?.detail?.path;
  return {
    path: d.path,
    reason: d.reason,
    since: d.since > 0 ? new Date(d.since).toISOString() : null,
    wait_ms: d.waitMs ?? null,
    fastest_ms: finite(d.fastestMs),
    majority_ms: finite(d.majorityMs),
    budget_ms: budgetMs,
    replicas: d.estimates.map((e) => ({
      region: e.region,
      reachable: e.reachable,
      estimate_ms: finite(e.estimateMs),
      p50_ms: e.p50Ms,
      p95_ms: e.p95Ms,
      in_flight_ms: e.inFlightAgeMs,
      samples: e.samples,
    })),
    last_change: last ? { at: new Date(last.at).toISOString(), path: lastPath === 'strong' || lastPath === 'deadline' ? lastPath : null, reason: last.reason } : null,
  };
}

/** Longest list of overrides or hints a status carries (the counts are always complete). */
export const STATUS_LIST_CAP = 200;

export function healthReportOf(o: { snap?: ControlSnapshot; storeOk: boolean; replicas: ReplicaHealth[]; at: number }): HealthReport {
  const total = o.replicas.length;
  const reachable = o.replicas.filter((r) => r.reachable).length;
  const quorum = Math.floor(total / 2) + 1;
  const status = !o.storeOk || reachable === 0 ? 'unhealthy' : reachable < total ? 'degraded' : 'healthy';
  return {
    status,
    mode: o.snap?.state.mode,
    replicas: o.replicas.map(replicaView),
    reachable,
    total,
    quorum_available: reachable >= quorum,
    controller_store: o.storeOk ? 'ok' : 'unavailable',
    timestamp: new Date(o.at).toISOString(),
  };
}

/**
 * The reason stored with the state; for a state stored before states carried one, the reason of
 * the transition that produced it (to this mode, at its change time), never another decision's.
 */
function modeReason(s: ControlSnapshot['state'], transitions: readonly AuditEntry[]): string {
  if (s.reason !== undefined) return s.reason;
  return transitions.find((e) => e.to === s.mode && e.at === s.changedAt && s.changedAt > 0)?.reason ?? '';
}

export function statusReportOf(o: {
  snap: ControlSnapshot;
  cfg: ControllerConfig;
  backlog: Backlog;
  replicas: ReplicaHealth[];
  transitions: AuditEntry[];
  at: number;
  /** The health tracker's window (operations per replica). */
  healthWindow: number;
  writePath: WritePathDecision;
  /** The newest audited write path change, if any. */
  lastWritePathChange?: AuditEntry;
}): StatusReport {
  const { snap, cfg, backlog } = o;
  const s = snap.state;
  return {
    mode: s.mode,
    reason: modeReason(s, o.transitions),
    score: s.lastScore ?? null,
    parts: s.lastParts ?? null,
    inputs: s.lastInputs ?? null,
    thresholds: { available_above: cfg.thresholdA, strong_below: cfg.thresholdC },
    hysteresis_samples: cfg.samples,
    samples: s.samples,
    version: s.version,
    changed_at: s.changedAt > 0 ? new Date(s.changedAt).toISOString() : null,
    updated_at: s.updatedAt > 0 ? new Date(s.updatedAt).toISOString() : null,
    global_override: snap.globalOverride?.mode ?? null,
    object_overrides: snap.objectOverrides.size,
    critical_keys: snap.criticalKeys.size,
    replicas: o.replicas.map(replicaView),
    backlog: { pending: backlog.pending, missing: backlog.missing },
    replication_lag_ms: backlog.oldestPendingAgeMs,
    pending_copies: backlog.pendingCopies ?? EMPTY_PENDING_COPIES,
    transitions: o.transitions,
    timestamp: new Date(o.at).toISOString(),
    weights: { ...cfg.weights },
    emergency_partition: cfg.emergencyPartition,
    health_window: { operations: o.healthWindow },
    object_override_list: [...snap.objectOverrides]
      .sort(([a], [b]) => a.localeCompare(b))
      .slice(0, STATUS_LIST_CAP)
      .map(([object_id, v]) => ({ object_id, mode: v.mode, actor: v.actor, at: new Date(v.at).toISOString() })),
    hints: [...snap.hints]
      .sort(([a], [b]) => a.localeCompare(b))
      .slice(0, STATUS_LIST_CAP)
      .map(([object_id, hint]) => ({ object_id, hint })),
    emergency: s.samples.at(-1)?.emergency === true,
    write_path: writePathView(o.writePath, cfg.durabilityBudgetMs, o.lastWritePathChange),
  };
}
