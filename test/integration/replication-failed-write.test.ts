/**
 * A strong write that is refused leaves nothing the replicator retries forever, on the real local
 * stack (s3rvers behind fault proxies, dynalite, PGlite, HTTP). Override strong; two regions refuse
 * and the third is black-holed; the upload answers 503 replicas_unavailable. After everything heals
 * and the override is cleared, the rows that write left (none of them with a holder) are resolved
 * by the replicator, /v1/status shows an empty backlog, the controller's lag input is 0 and the
 * healthy cluster stays in C. Schedules are driven by hand; every wait is for a condition.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { and, eq, ne } from 'drizzle-orm';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { chunkPlacements, chunks } from '#shared/catalog/schema.js';
import { runnerFor } from '#shared/storage/replication-runner.js';

let stack: TestStack;
let alice: TestUser;
let admin: TestUser;
const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];

beforeAll(async () => {
  stack = await startTestStack(
    {
      ECHOFS_REGIONS: REGIONS.join(','),
      ECHOFS_PROBE_INTERVAL_MS: '200',
      ECHOFS_PROBE_TIMEOUT_MS: '1500',
      ECHOFS_REPLICA_TIMEOUT_MS: '3000',
      ECHOFS_MODE_CACHE_MS: '100',
    },
    { schedules: false },
  );
  alice = await stack.register();
  admin = await stack.registerAdmin();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function setFault(region: string, state: 'up' | 'blackhole' | 'refuse') {
  const r = await stack.fetchJson('/api/v1/local/faults', { token: admin.token, body: { region, state } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

async function upload(name: string, data: Buffer) {
  const form = new FormData();
  form.append('name', name);
  form.append('file', new Blob([new Uint8Array(data)]), 'file.bin');
  const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${alice.token}` } });
  return { status: res.status, body: (await res.json()) as { error?: { code?: string } } };
}

const tick = () => stack.system.tasks.probe!.runNow();
const status = async () => (await stack.fetchJson('/v1/status', { token: alice.token })).body;

describe('a refused strong write on the local stack', () => {
  it('leaves no backlog after the heal: its holder-less rows are resolved, the lag input stays 0 and the mode stays C', async () => {
    const db = stack.system.services.catalog.db;
    const runner = runnerFor(stack.system.services);
    await tick();
    expect((await stack.fetchJson('/v1/override', { token: admin.token, body: { mode: 'C' } })).status).toBe(200);

    await setFault('us-east-1', 'refuse');
    await setFault('eu-west-1', 'refuse');
    await setFault('ap-southeast-1', 'blackhole');
    const r = await upload('refused.bin', randomBytes(50_000));
    expect(r.status, JSON.stringify(r.body)).toBe(503);
    expect(r.body.error?.code).toBe('replicas_unavailable');

    // The refused write recorded its chunk with every region pending and no holder (the bug's
    // precondition): nothing acknowledged it, so nothing may be retried forever.
    const [chunk] = await db.select({ ownerId: chunks.ownerId, hash: chunks.hash }).from(chunks).where(eq(chunks.ownerId, alice.user.id));
    expect(chunk, 'the refused write recorded its chunk').toBeDefined();
    const rowsOf = () =>
      db
        .select({ region: chunkPlacements.region, state: chunkPlacements.state, lastError: chunkPlacements.lastError })
        .from(chunkPlacements)
        .where(and(eq(chunkPlacements.ownerId, chunk!.ownerId), eq(chunkPlacements.hash, chunk!.hash)));
    expect((await rowsOf()).filter((x) => x.state === 'present')).toEqual([]);
    // The status shows them as unrecoverable copies, outside the lag, with nothing internal in view.
    const during = await status();
    expect(during.replication_lag_ms).toBe(0);
    expect(during.pending_copies).toMatchObject({ recoverable: 0, unrecoverable: 3 });
    expect(during.pending_copies.oldest.map((c: { region: string }) => c.region).sort()).toEqual([...REGIONS].sort());
    for (const c of during.pending_copies.oldest) expect(c).toMatchObject({ state: 'pending', recoverable: false, attempts: 0 });

    // Heal everything and clear the override.
    for (const region of REGIONS) await setFault(region, 'up');
    expect((await stack.fetchJson('/v1/override', { method: 'DELETE', token: admin.token })).status).toBe(200);
    // The write's straggler to the black-holed region ends (its connection is reset by the heal).
    await stack.system.services.storage.drain();

    // Probe until every region counts as reachable and drain, until the backlog is empty.
    await vi.waitFor(
      async () => {
        await tick();
        await runner.drain();
        const s = await status();
        expect(s.replicas.every((x: { reachable: boolean }) => x.reachable), JSON.stringify(s.replicas)).toBe(true);
        expect(s.backlog, JSON.stringify(await rowsOf())).toEqual({ pending: 0, missing: 0 });
      },
      { timeout: 30_000, interval: 50 },
    );
    // Resolved, not hidden: the chunk has no backlog row left (its bytes are GC's).
    expect((await rowsOf()).filter((x) => x.state !== 'present')).toEqual([]);
    expect(await db.select().from(chunkPlacements).where(ne(chunkPlacements.state, 'present'))).toEqual([]);
    expect((await status()).pending_copies).toEqual({ recoverable: 0, unrecoverable: 0, oldest: [] });

    // The controller sees no lag and the healthy cluster stays strong through the hysteresis window.
    for (let i = 0; i < 4; i++) await tick();
    const s = await status();
    expect(s.replication_lag_ms).toBe(0);
    expect(s.inputs.lag).toBe(0);
    expect(s.mode).toBe('C');
  });
});
