/**
 * The controller's history, as the dashboard's timeline shows it: one sample per stored policy
 * step (score, its parts, the proposed and the actual mode, the emergency flag), kept 24 hours in
 * the controller table, and the events of the same window (mode changes, overrides, critical keys,
 * hints, fault injections), read from the audit log. Pure shaping and validation; the store reads
 * and writes (store.ts).
 */
import type { Mode } from '../config.js';
import { BadRequest } from '../errors.js';
import type { ScoreParts, StepResult } from './policy.js';
import type { AuditEntry } from './store.js';

/** How long a sample is kept (the TTL of its item). */
export const HISTORY_TTL_MS = 24 * 3_600_000;
/** The longest window one request may ask for: everything that is kept. */
export const HISTORY_MAX_WINDOW_MS = HISTORY_TTL_MS;
/** The window when none is given. */
export const HISTORY_DEFAULT_WINDOW_MS = 3_600_000;
/** At most this many samples are answered: a longer run is reduced to this many time buckets. */
export const HISTORY_MAX_POINTS = 720;
/** At most this many samples and events are read from the store for one answer. */
export const HISTORY_READ_CAP = 20_000;
export const HISTORY_EVENT_CAP = 1_000;

export interface HistorySample {
  /** Epoch ms. */
  at: number;
  score: number;
  parts: ScoreParts;
  /** What this sample alone would choose. */
  proposed: Mode;
  /** The controller's mode after this sample. */
  mode: Mode;
  emergency: boolean;
}

export type HistoryEventKind =
  | 'mode_change'
  | 'override_set'
  | 'override_cleared'
  | 'critical_key_added'
  | 'critical_key_removed'
  | 'hint_set'
  | 'fault_injected'
  | 'fault_healed';

export interface HistoryEvent {
  id: string;
  at: number;
  kind: HistoryEventKind;
  actor: string;
  reason: string;
  from?: Mode;
  to?: Mode;
  object_id?: string;
  region?: string;
  emergency?: boolean;
}

export interface HistoryWindow {
  from: number;
  to: number;
}

export interface HistoryReport {
  from: string;
  to: string;
  window_ms: number;
  max_window_ms: number;
  /** 0: every sample; else the width of the buckets the samples were reduced to (highest score of each). */
  bucket_ms: number;
  samples: HistorySample[];
  events: HistoryEvent[];
  /** True when the read cap was reached: the oldest part of the window is missing. */
  truncated: boolean;
}

/** The history sample of one stored policy step. */
export function sampleOfStep(r: Pick<StepResult, 'score' | 'parts' | 'proposed' | 'to' | 'emergency'>, at: number): HistorySample {
  return { at, score: r.score, parts: { ...r.parts }, proposed: r.proposed, mode: r.to, emergency: r.emergency };
}

const ACTIONS: Record<string, HistoryEventKind> = {
  transition: 'mode_change',
  emergency_transition: 'mode_change',
  set_override: 'override_set',
  clear_override: 'override_cleared',
  add_critical_key: 'critical_key_added',
  remove_critical_key: 'critical_key_removed',
  set_hint: 'hint_set',
  inject_fault: 'fault_injected',
  heal_fault: 'fault_healed',
};

/** The audit actions that are timeline events. */
export const HISTORY_ACTIONS: readonly string[] = Object.keys(ACTIONS);

/** The timeline event of an audit entry, or undefined for an entry that is not one. */
export function eventOf(e: AuditEntry): HistoryEvent | undefined {
  const kind = ACTIONS[e.action];
  if (!kind) return undefined;
  const region = typeof e.detail?.region === 'string' ? e.detail.region : undefined;
  return {
    id: e.id,
    at: e.at,
    kind,
    actor: e.actor,
    reason: e.reason,
    ...(e.from ? { from: e.from } : {}),
    ...(e.to ? { to: e.to } : {}),
    ...(e.objectId ? { object_id: e.objectId } : {}),
    ...(region ? { region } : {}),
    ...(e.action === 'emergency_transition' ? { emergency: true } : {}),
  };
}

/** A time in a query string: epoch ms or an ISO 8601 date-time. */
function timeParam(v: string | undefined, field: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const t = /^\d{1,15}$/.test(v) ? Number(v) : /^\d{4}-\d\d-\d\dT/.test(v) ? Date.parse(v) : NaN;
  if (!Number.isFinite(t)) {
    throw new BadRequest(`Field '${field}' must be a time: epoch milliseconds or an ISO 8601 date-time such as 2026-01-31T12:00:00Z.`, 'invalid_field', { field });
  }
  return t;
}

/**
 * The window of GET /v1/history: `to` defaults to now, `from` to one hour before `to`. A window
 * longer than the history kept (24 h) or ending before it starts is a 400 naming the field.
 */
export function historyWindow(q: { from?: string; to?: string }, now: number): HistoryWindow {
  const to = timeParam(q.to, 'to') ?? now;
  const from = timeParam(q.from, 'from') ?? to - HISTORY_DEFAULT_WINDOW_MS;
  if (from > to) throw new BadRequest("Field 'from' must not be after 'to'.", 'invalid_field', { field: 'from' });
  if (to - from > HISTORY_MAX_WINDOW_MS) {
    throw new BadRequest(
      `Field 'from' is too far before 'to': a window is at most ${HISTORY_MAX_WINDOW_MS / 3_600_000} h (the history is kept ${HISTORY_TTL_MS / 3_600_000} h).`,
      'invalid_field',
      { field: 'from' },
    );
  }
  return { from, to };
}

/**
 * At most `maxPoints` samples (oldest first): a longer run is cut into equal time buckets and each
 * keeps its highest-scoring sample, flagged as an emergency when any sample of the bucket was.
 */
export function downsample(samples: readonly HistorySample[], w: HistoryWindow, maxPoints = HISTORY_MAX_POINTS): { samples: HistorySample[]; bucketMs: number } {
  if (samples.length <= maxPoints) return { samples: [...samples], bucketMs: 0 };
  const bucketMs = Math.ceil((w.to - w.from + 1) / maxPoints);
  const out: HistorySample[] = [];
  let bucket = -1;
  for (const s of samples) {
    const b = Math.floor((s.at - w.from) / bucketMs);
    const cur = out[out.length - 1];
    if (b !== bucket || !cur) {
      out.push({ ...s });
      bucket = b;
    } else {
      const emergency = cur.emergency || s.emergency;
      if (s.score > cur.score) out[out.length - 1] = { ...s, emergency };
      else cur.emergency = emergency;
    }
  }
  return { samples: out, bucketMs };
}

export function historyReport(o: { window: HistoryWindow; samples: readonly HistorySample[]; audit: readonly AuditEntry[]; truncated: boolean }): HistoryReport {
  const { samples, bucketMs } = downsample(o.samples, o.window);
  return {
    from: new Date(o.window.from).toISOString(),
    to: new Date(o.window.to).toISOString(),
    window_ms: o.window.to - o.window.from,
    max_window_ms: HISTORY_MAX_WINDOW_MS,
    bucket_ms: bucketMs,
    samples,
    events: o.audit.flatMap((e) => eventOf(e) ?? []),
    truncated: o.truncated,
  };
}
