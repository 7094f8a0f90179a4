/**
 * The controller on the real local stack (s3rvers behind fault proxies, dynalite, PGlite, HTTP):
 * a partition of two of three replicas switches to A within one probe tick, writes keep
 * succeeding (except a critical key's, which fails rather than degrade), and after the heal the
 * backlog drains, every acknowledged write reads back byte-exact, and C returns only after the
 * hysteresis window. Schedules are driven by hand so each step is deterministic.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { chunkPlacements } from '#shared/catalog/schema.js';
import { scaled } from '../helpers/load.js';
import { waitFor } from '../helpers/wait.js';

let stack: TestStack;
let alice: TestUser;
let admin: TestUser;
const PARTITIONED = ['eu-west-1', 'ap-southeast-1'];

beforeAll(async () => {
  stack = await startTestStack(
    {
      ECHOFS_REGIONS: 'us-east-1,eu-west-1,ap-southeast-1',
      ECHOFS_PROBE_INTERVAL_MS: '200',
      // Black-holed replicas never answer, so these deadlines only decide how long a write waits
      // for them; they are scaled to the machine's load so the one healthy replica's PUT (and its
      // probe) is never cut short on a busy machine, which would turn an A-mode write into a 503.
      ECHOFS_PROBE_TIMEOUT_MS: String(scaled(1500)),
      ECHOFS_REPLICA_TIMEOUT_MS: String(scaled(2500, 5)),
      ECHOFS_MODE_CACHE_MS: '100',
    },
    { schedules: false },
  );
  alice = await stack.register();
  admin = await stack.registerAdmin();
}, scaled(60_000));

// Whatever a test proved or failed, the next one starts healed and back in C: every replica up,
// and probe ticks until the controller has left A (hysteresis takes a few calm samples).
afterEach(async () => {
  if (!stack) return;
  for (const r of PARTITIONED) stack.system.faults.set(r, { state: 'up' });
  for (let i = 0; i < 20 && (await controllerMode()) !== 'C'; i++) await tick();
  expect(await controllerMode(), 'the controller did not return to C after the heal').toBe('C');
}, scaled(60_000));

afterAll(async () => {
  await stack?.stop();
});

async function upload(token: string, name: string, data: Buffer) {
  const form = new FormData();
  form.append('name', name);
  form.append('file', new Blob([new Uint8Array(data)]), 'file.bin');
  const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { data?: { file_id?: string }; error?: { code: string } };
  return { status: res.status, mode: res.headers.get('x-echofs-mode'), retryAfter: res.headers.get('retry-after'), body };
}

async function download(token: string, id: string): Promise<Buffer> {
  const res = await fetch(`${stack.url}/api/v1/files/${id}/download`, { headers: { Authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

const tick = () => stack.system.tasks.probe!.runNow();
const controllerMode = async () => (await stack.fetchJson('/v1/mode', { token: alice.token })).body.mode as string;

async function setFault(region: string, state: 'up' | 'blackhole') {
  const r = await stack.fetchJson('/api/v1/local/faults', { token: admin.token, body: { region, state } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

async function pendingPlacements(): Promise<number> {
  const db = stack.system.services.catalog.db;
  const [row] = await db.select({ n: sql<number>`count(*)`.mapWith(Number) }).from(chunkPlacements).where(eq(chunkPlacements.state, 'pending'));
  return row?.n ?? 0;
}

/**
 * Run replicator passes until no copy is pending. A row whose copy failed before the heal may be
 * in backoff for a moment, so this waits for the condition (bounded) rather than counting passes.
 */
async function drainBacklog(): Promise<void> {
  await waitFor(
    async () => {
      await stack.system.tasks.drain!.runNow();
      return (await pendingPlacements()) === 0;
    },
    'the backlog to drain',
    scaled(30_000),
    250,
  );
}

describe('partition of two of three replicas on the local stack', () => {
  it('switches to A at once, keeps writing, refuses to degrade a critical key, heals without loss, returns to C after hysteresis', async () => {
    await tick();
    expect(await controllerMode()).toBe('C');
    const acknowledged: { id: string; data: Buffer }[] = [];
    const before = randomBytes(200_000);
    const b = await upload(alice.token, 'before.bin', before);
    expect(b.status, JSON.stringify(b.body)).toBe(201);
    expect(b.mode).toBe('C');
    acknowledged.push({ id: b.body.data!.file_id!, data: before });

    const ck = await stack.fetchJson('/v1/critical-keys', { token: admin.token, body: { key: 'ledger.db' } });
    expect(ck.status).toBe(201);

    // Partition: black-hole two of three replicas. One probe tick later the mode is A.
    for (const r of PARTITIONED) await setFault(r, 'blackhole');
    await tick();
    expect(await controllerMode()).toBe('A');
    const status = await stack.fetchJson('/v1/status', { token: alice.token });
    expect(status.body.replicas.filter((r: { reachable: boolean }) => !r.reachable).map((r: { region: string }) => r.region).sort()).toEqual([...PARTITIONED].sort());
    const audit = await stack.fetchJson('/v1/audit', { token: admin.token });
    expect(audit.body.entries[0]).toMatchObject({ kind: 'transition', from: 'C', to: 'A', action: 'emergency_transition' });

    // A critical key's write fails with 503 rather than degrade.
    const critical = await upload(alice.token, 'ledger.db', randomBytes(1000));
    expect(critical.status, JSON.stringify(critical.body)).toBe(503);
    expect(critical.retryAfter).not.toBeNull();

    // 20 concurrent writers during the partition: every write is acknowledged in A.
    const payloads = Array.from({ length: 20 }, (_, i) => ({ name: `during-${i}.bin`, data: randomBytes(10_000 + i * 5_000) }));
    const results = await Promise.all(payloads.map((p) => upload(alice.token, p.name, p.data)));
    for (const [i, r] of results.entries()) {
      expect(r.status, `${payloads[i]!.name}: ${JSON.stringify(r.body)}`).toBe(201);
      expect(r.mode).toBe('A');
      acknowledged.push({ id: r.body.data!.file_id!, data: payloads[i]!.data });
    }
    expect(await pendingPlacements()).toBeGreaterThan(0);

    // Heal. Probes need two good answers before a replica counts as reachable again, and then
    // three calm samples (the hysteresis window) before the mode goes back to C.
    for (const r of PARTITIONED) await setFault(r, 'up');
    type Seen = { mode: string; reachable: number; emergency: boolean };
    const seen: Seen[] = [];
    for (let i = 0; i < 10; i++) {
      await tick();
      const st = await stack.fetchJson('/v1/status', { token: alice.token });
      const body = st.body as { mode: string; replicas: { reachable: boolean }[] };
      const reachable = body.replicas.filter((x) => x.reachable).length;
      seen.push({ mode: body.mode, reachable, emergency: reachable < 2 });
      if (body.mode === 'C') break;
    }
    const trace = JSON.stringify(seen);
    // The first sample after the heal is still A: the mode never snaps back at once.
    expect(seen[0]?.mode, trace).toBe('A');
    const cAt = seen.findIndex((x) => x.mode === 'C');
    expect(cAt, `mode never returned to C: ${trace}`).toBeGreaterThan(0);
    // C is taken only after three consecutive non-emergency samples (the hysteresis window).
    const calm = seen.slice(0, cAt + 1).reverse().findIndex((x) => x.emergency);
    const calmRun = calm === -1 ? cAt + 1 : calm;
    expect(calmRun, trace).toBeGreaterThanOrEqual(3);

    // The backlog drains.
    // (The heal made the healed regions' rows due at once; a few passes empty the backlog.)
    await drainBacklog();
    expect(await pendingPlacements()).toBe(0);

    // Every acknowledged write reads back byte-exact, also from the replicas that were cut off.
    for (const a of acknowledged) expect((await download(alice.token, a.id)).equals(a.data)).toBe(true);
    const after = await stack.fetchJson('/v1/status', { token: alice.token });
    expect(after.body).toMatchObject({ mode: 'C', backlog: { pending: 0 } });
  }, scaled(120_000));

  it('20 concurrent writers while the mode switches lose no acknowledged write', async () => {
    expect(await controllerMode()).toBe('C');
    const payloads = Array.from({ length: 20 }, (_, i) => ({ name: `switch-${i}.bin`, data: randomBytes(20_000 + i * 3_000) }));
    const writes = Promise.all(payloads.map((p) => upload(alice.token, p.name, p.data)));
    // The partition and the decision happen while the writes are in flight.
    for (const r of PARTITIONED) await setFault(r, 'blackhole');
    await tick();
    const results = await writes;
    expect(await controllerMode()).toBe('A');

    const acknowledged: { id: string; data: Buffer }[] = [];
    for (const [i, r] of results.entries()) {
      // A strong write that lost its majority is refused (503, retryable), never half-acknowledged.
      expect([201, 503], `${payloads[i]!.name}: ${JSON.stringify(r.body)}`).toContain(r.status);
      if (r.status === 503) {
        expect(r.retryAfter).not.toBeNull();
        continue;
      }
      acknowledged.push({ id: r.body.data!.file_id!, data: payloads[i]!.data });
    }
    // Writes retried after the switch are acknowledged in A.
    for (const [i, r] of results.entries()) {
      if (r.status !== 503) continue;
      const again = await upload(alice.token, payloads[i]!.name, payloads[i]!.data);
      expect(again.status, JSON.stringify(again.body)).toBe(201);
      expect(again.mode).toBe('A');
      acknowledged.push({ id: again.body.data!.file_id!, data: payloads[i]!.data });
    }
    expect(acknowledged).toHaveLength(20);

    for (const r of PARTITIONED) await setFault(r, 'up');
    for (let i = 0; i < 4; i++) await tick();
    await drainBacklog();
    expect(await pendingPlacements()).toBe(0);
    for (const a of acknowledged) expect((await download(alice.token, a.id)).equals(a.data)).toBe(true);
  }, scaled(120_000));
});
