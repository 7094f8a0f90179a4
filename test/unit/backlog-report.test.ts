/** The status page's view of backlog errors: a code and a fixed reason, never the stored text. */
import { describe, expect, it } from 'vitest';
import { pendingCopyView, sanitizeBacklogError } from '#shared/storage/backlog-report.js';

describe('sanitizeBacklogError', () => {
  it.each([
    ['no_source: no region holds a verified copy of the chunk', 'no_source'],
    ['no reachable region holds a verified copy', 'no_source'],
    ['unreachable: eu-west-1 did not answer; no other region holds the chunk', 'unreachable'],
    ['write to eu-west-1: Error: connect ECONNREFUSED 127.0.0.1:45123', 'unreachable'],
    ['write to eu-west-1: TimeoutError: Connection timed out after 3000 ms (s3.eu-west-1.internal)', 'timeout'],
    ['write to eu-west-1: InternalError: We encountered an internal error', 'write_failed'],
    ['no usable source (us-east-1: Error: socket hang up)', 'source_unusable'],
    ['anti-entropy: copy missing', 'copy_missing'],
    ['object not found on read', 'copy_missing'],
    ['anti-entropy: copy corrupt (hash mismatch)', 'copy_corrupt'],
    ['something else entirely at db.cluster-abc.rds.amazonaws.com', 'error'],
  ])('%s -> %s', (raw, code) => {
    const v = sanitizeBacklogError(raw);
    expect(v?.code).toBe(code);
    // Nothing of the stored text is echoed: no addresses, hosts or SDK names.
    expect(v?.reason).not.toMatch(/127\.0\.0\.1|internal\b|amazonaws|Error|eu-west-1/);
  });

  it('null and empty errors are null', () => {
    expect(sanitizeBacklogError(null)).toBeNull();
    expect(sanitizeBacklogError('')).toBeNull();
  });

  it('a row view gives ages relative to now and never a negative wait', () => {
    const now = Date.UTC(2026, 0, 1, 12);
    const v = pendingCopyView({ region: 'r', state: 'missing', pendingSince: new Date(now - 5000), attempts: 2, lastError: 'anti-entropy: copy missing', nextAttemptAt: new Date(now - 1), hasSource: true }, now);
    expect(v).toEqual({ region: 'r', state: 'missing', age_ms: 5000, attempts: 2, next_attempt_in_ms: 0, last_error: { code: 'copy_missing', reason: 'the copy was not found in its region' }, recoverable: true });
  });
});
