/**
 * Time budgets through the local stack: a write that runs out of its budget (two replicas slowed
 * past it, a strong write waiting for its quorum) answers 504 `request_timeout` with Retry-After
 * and a JSON error, and commits nothing, even after its slow replica writes land; a retry with the
 * same Idempotency-Key then does the work (a 5xx outcome is not kept).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { chunkPlacements, files, idempotencyKeys } from '#shared/catalog/schema.js';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { scaled } from '../helpers/load.js';
import { waitFor } from '../helpers/wait.js';

/**
 * The budget each request gets here (a healthy upload takes a small fraction of it, also on a busy
 * machine: scaled to the load), and how slow the two slowed replicas answer: past it, under their
 * own timeout.
 */
const BUDGET_MS = scaled(1500);
const SLOW_MS = 2 * BUDGET_MS;

let stack: TestStack;
let alice: TestUser;

beforeAll(async () => {
  stack = await startTestStack({ ECHOFS_REQUEST_TIMEOUT_MS: String(BUDGET_MS), ECHOFS_REPLICA_TIMEOUT_MS: '30000' }, { schedules: false });
  alice = await stack.register();
}, 120_000);
afterAll(() => stack?.stop());

async function upload(name: string, data: Buffer, key: string) {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(data)]), name);
  const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${alice.token}`, 'Idempotency-Key': key } });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { data: { version: number; mode: string }; error: { code: string; message: string; request_id: string } } };
}

describe('a request past its time budget', () => {
  it('answers 504 request_timeout with Retry-After, commits nothing even when its slow writes land, and frees its idempotency key', async () => {
    const db = stack.system.services.catalog.db;
    const regions = stack.system.config.regions;
    const slow = regions.slice(1);
    const data = randomBytes(5000);
    const hash = createHash('sha256').update(data).digest('hex');
    const key = randomUUID();
    for (const r of slow) stack.system.faults.set(r, { latency_ms: SLOW_MS });
    let timedOut;
    try {
      timedOut = await upload('slow.bin', data, key);
    } finally {
      for (const r of slow) stack.system.faults.set(r, { latency_ms: 0 });
    }
    expect(timedOut.status, JSON.stringify(timedOut.body)).toBe(504);
    expect(timedOut.headers.get('content-type')).toContain('application/json');
    expect(timedOut.headers.get('retry-after')).toBe('1');
    expect(timedOut.body.error.code).toBe('request_timeout');
    expect(timedOut.body.error.message).toContain('before anything was committed');
    expect(timedOut.body.error.request_id).toBeTruthy();
    // The abandoned work goes on until its slow writes land (every copy present), then reaches its
    // commit point and is refused there: no file, no version.
    await waitFor(
      async () => {
        const rows = await db.select().from(chunkPlacements).where(and(eq(chunkPlacements.ownerId, alice.user.id), eq(chunkPlacements.hash, hash)));
        return rows.filter((r) => r.state === 'present').length === regions.length;
      },
      'the slow replica writes of the timed-out upload to land',
      SLOW_MS * 4,
    );
    expect(await db.select().from(files).where(and(eq(files.ownerId, alice.user.id), eq(files.name, 'slow.bin'))), 'a timed-out upload must not commit').toHaveLength(0);
    expect(await db.select().from(idempotencyKeys).where(and(eq(idempotencyKeys.ownerId, alice.user.id), eq(idempotencyKeys.key, key))), 'a 504 keeps no outcome').toHaveLength(0);

    // The retry with the same key does the work, once: version 1.
    const retry = await upload('slow.bin', data, key);
    expect(retry.status, JSON.stringify(retry.body)).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
    expect(retry.body.data.version).toBe(1);
  }, 120_000);
});
