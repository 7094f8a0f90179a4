/**
 * The replication backlog as the status page shows it: the counts and lag (backlog-repository.ts)
 * plus the oldest pending copies with their age, attempts, next attempt and last error, so a
 * backlog that drains can be told from one that is stuck. Errors are reported as a code and a
 * fixed short reason, never the stored text (which may name hosts, addresses or SDK internals).
 * Copies are named by region and state only: the status is readable by every user, and a chunk's
 * owner or hash is not theirs to see.
 */
import type { Db } from '../catalog/db.js';
import { oldestPending, readBacklogStats, type BacklogStats, type PendingCopyRow } from '../catalog/backlog-repository.js';
import { systemClock, type Clock } from '../clock.js';

export type BacklogErrorCode = 'no_source' | 'unreachable' | 'timeout' | 'source_unusable' | 'write_failed' | 'copy_missing' | 'copy_corrupt' | 'error';

const REASONS: Record<BacklogErrorCode, string> = {
  no_source: 'no region holds a verified copy of the chunk',
  unreachable: 'the replica did not answer',
  timeout: 'the replica did not answer in time',
  source_unusable: 'every source copy was unreachable, missing or corrupt',
  write_failed: 'the copy could not be written',
  copy_missing: 'the copy was not found in its region',
  copy_corrupt: 'the copy failed verification',
  error: 'the copy failed',
};

export interface BacklogErrorView {
  code: BacklogErrorCode;
  reason: string;
}

/** A stored last_error as a code and a fixed short reason (nothing of the stored text is echoed). */
export function sanitizeBacklogError(raw: string | null | undefined): BacklogErrorView | null {
  if (!raw) return null;
  const t = raw.toLowerCase();
  const code: BacklogErrorCode = t.startsWith('no_source') || t.includes('no reachable region holds')
    ? 'no_source'
    : t.startsWith('unreachable')
      ? 'unreachable'
      : t.includes('no usable source')
        ? 'source_unusable'
        : /timeout|timed out|etimedout|aborterror/.test(t)
          ? 'timeout'
          : /econnrefused|econnreset|ehostunreach|enotfound|socket hang up|unreachable/.test(t)
            ? 'unreachable'
            : t.startsWith('write to')
              ? 'write_failed'
              : /corrupt|hash|decode|verif/.test(t)
                ? 'copy_corrupt'
                : /missing|not found/.test(t)
                  ? 'copy_missing'
                  : 'error';
  return { code, reason: REASONS[code] };
}

export interface PendingCopyView {
  region: string;
  state: 'pending' | 'missing';
  /** Since the copy became pending (ms). */
  age_ms: number;
  attempts: number;
  /** Until the next attempt (ms); 0 when due now. */
  next_attempt_in_ms: number;
  last_error: BacklogErrorView | null;
  /** False when no region holds a present copy of the chunk: replication cannot make it. */
  recoverable: boolean;
}

export interface PendingCopiesView {
  /** Copies that can still be made (some region holds a present copy of the chunk). */
  recoverable: number;
  /** Copies of chunks no region holds a present copy of: surfaced, not retried on the usual schedule. */
  unrecoverable: number;
  /** The oldest pending copies, oldest first. */
  oldest: PendingCopyView[];
}

export const EMPTY_PENDING_COPIES: PendingCopiesView = { recoverable: 0, unrecoverable: 0, oldest: [] };

export function pendingCopyView(r: PendingCopyRow, nowMs: number): PendingCopyView {
  return {
    region: r.region,
    state: r.state === 'missing' ? 'missing' : 'pending',
    age_ms: r.pendingSince ? Math.max(0, nowMs - r.pendingSince.getTime()) : 0,
    attempts: r.attempts,
    next_attempt_in_ms: r.nextAttemptAt ? Math.max(0, r.nextAttemptAt.getTime() - nowMs) : 0,
    last_error: sanitizeBacklogError(r.lastError),
    recoverable: r.hasSource,
  };
}

/** The backlog counts and lag, with the view of its oldest copies (for /v1/status). */
export interface BacklogReport extends BacklogStats {
  pendingCopies: PendingCopiesView;
}

/** The backlog for the status page: its counts and lag, and its `limit` oldest copies. */
export async function backlogReport(db: Db, o: { clock?: Clock; limit?: number } = {}): Promise<BacklogReport> {
  const clock = o.clock ?? systemClock;
  const [stats, rows] = await Promise.all([readBacklogStats(db, clock.now()), oldestPending(db, o.limit ?? 10)]);
  const now = clock.now();
  const total = stats.pending + stats.missing;
  return {
    ...stats,
    pendingCopies: {
      recoverable: Math.max(0, total - stats.unrecoverable),
      unrecoverable: stats.unrecoverable,
      oldest: rows.map((r) => pendingCopyView(r, now)),
    },
  };
}
