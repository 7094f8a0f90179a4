/**
 * The logger keeps the cause of a failure: a `message` key among the extra attributes, which
 * Powertools drops as its own reserved key, is logged as `detail`.
 */
import { describe, expect, it, vi } from 'vitest';
import { EchoLogger } from '#shared/observability.js';

describe('logger', () => {
  it("keeps an extra attribute named 'message' (as detail) next to the log line's own message", () => {
    const lines: string[] = [];
    const capture = (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    };
    const spies = [vi.spyOn(process.stdout, 'write').mockImplementation(capture), vi.spyOn(process.stderr, 'write').mockImplementation(capture)];
    const log = new EchoLogger({ serviceName: 'test', logLevel: 'INFO' });
    try {
      log.warn('request failed', { status: 503, code: 'replicas_unavailable', message: 'Strong write needs 2 of 3 replicas' });
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const entry = JSON.parse(lines.join('').trim().split('\n').find((l) => l.includes('request failed')) as string) as Record<string, unknown>;
    expect(entry.message).toBe('request failed');
    expect(entry.detail).toBe('Strong write needs 2 of 3 replicas');
    expect(entry.code).toBe('replicas_unavailable');
  });
});
