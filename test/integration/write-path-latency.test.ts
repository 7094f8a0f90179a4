/**
 * The strong mode's latency-aware write path on the real local stack (s3rvers behind fault proxies,
 * dynalite, PGlite, HTTP), with schedules off so the controller stays in C. Three replicas: a near
 * one, a second near one and a far one (+150 ms). While the two near ones answer alike, writes wait
 * for a majority. Once the second near replica is delayed (+400 ms), a majority needs the far one:
 * adaptive writes are acknowledged with the near copy without waiting for the delayed replica, the
 * acknowledgement says so (mode H, degraded, the rest pending), the delayed copy is present later,
 * reads return the new version at once, and a critical key still waits for a majority. After the
 * delay is lifted, writes return to plain strong. Every wait is for a condition.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';
import { scaled } from '../helpers/load.js';

const [NEAR, DELAYED, FAR] = ['us-east-1', 'eu-west-1', 'ap-southeast-1'] as const;

let stack: TestStack;
let alice: TestUser;
let admin: TestUser;

interface Ack {
  mode: 'C' | 'H' | 'A';
  acked: string[];
  pending: string[];
  degraded: boolean;
  replicas_acked: number;
}
interface Uploaded {
  file_id: string;
  version: number;
  ack: Ack;
}

beforeAll(async () => {
  stack = await startTestStack({ ECHOFS_REGIONS: [NEAR, DELAYED, FAR].join(','), ECHOFS_MODE_CACHE_MS: '100', ECHOFS_REPLICA_TIMEOUT_MS: '5000' }, { schedules: false });
  alice = await stack.register();
  admin = await stack.registerAdmin();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function setLatency(region: string, latencyMs: number) {
  const r = await stack.fetchJson('/api/v1/local/faults', { token: admin.token, body: { region, state: 'up', latency_ms: latencyMs } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
}

async function upload(name: string, data: Buffer): Promise<Uploaded> {
  const form = new FormData();
  form.append('name', name);
  form.append('file', new Blob([new Uint8Array(data)]), 'file.bin');
  const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${alice.token}` } });
  const body = (await res.json()) as { data: Uploaded };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body.data;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const writePath = async () => (await stack.fetchJson('/v1/status', { token: alice.token })).body.write_path as { path: string; reason: string; replicas: { region: string; estimate_ms: number | null }[] };

describe('the latency-aware write path on the local stack', () => {
  it('with one replica delayed, adaptive writes ack without waiting for it; the copy lands later; reads see the new version; a critical key still waits for a majority', async () => {
    await setLatency(FAR, 150);
    // Warm-up: every replica's write latency is observed; the two near ones are level, so strong.
    for (let i = 0; i < 3; i++) {
      const w = await upload(`warm-${i}.bin`, randomBytes(8_000));
      expect(w.ack).toMatchObject({ mode: 'C', degraded: false });
      expect(w.ack.acked.length).toBeGreaterThanOrEqual(2);
    }
    expect((await writePath()).path).toBe('strong');

    await setLatency(DELAYED, 400);
    // The delay shows in the estimates within a write or two (in-flight age, then the P95).
    let latest = randomBytes(20_000);
    const w = await waitFor(
      async () => {
        latest = randomBytes(20_000); // new bytes each time: a stored chunk would be deduplicated
        const r = await upload('doc.bin', latest);
        return r.ack.degraded ? r : undefined;
      },
      'a write acknowledged on the deadline path',
      scaled(20_000),
    );
    // Acknowledged with the near copy: neither the delayed replica nor the far one was waited for.
    expect(w.ack).toMatchObject({ mode: 'H', degraded: true, acked: [NEAR], replicas_acked: 1 });
    expect(w.ack.pending).toContain(DELAYED);
    const path = await writePath();
    expect(path.path).toBe('deadline');
    expect(path.reason).toMatch(/majority-th fastest replica/);

    // A read right away returns the new version (the catalog names it; the near replica holds it).
    const res = await fetch(`${stack.url}/api/v1/files/${w.file_id}/download`, { headers: { Authorization: `Bearer ${alice.token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-echofs-version')).toBe(String(w.version));
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(latest));

    // The delayed replica's copy lands later (its write kept running) and is recorded present.
    await waitFor(
      async () => {
        const d = await stack.fetchJson(`/api/v1/files/${w.file_id}`, { token: alice.token });
        const regions = (d.body.data.placements as { regions: Record<string, string> }[]).map((p) => p.regions);
        return regions.length > 0 && regions.every((r) => r[DELAYED] === 'present' && r[FAR] === 'present');
      },
      'the delayed and the far copies present',
      scaled(20_000),
    );

    // The change was audited as the controller's write_path decision; the mode stayed C.
    const audit = await stack.fetchJson('/v1/audit', { token: admin.token });
    const entry = (audit.body.entries as { action: string; reason: string; detail?: { path?: string } }[]).find((e) => e.action === 'write_path');
    expect(entry?.detail?.path).toBe('deadline');
    const status = (await stack.fetchJson('/v1/status', { token: alice.token })).body;
    expect(status.mode).toBe('C');

    // A critical key keeps exact strong semantics under the same conditions: a majority held it.
    expect((await stack.fetchJson('/v1/critical-keys', { token: admin.token, body: { key: 'vault.bin' } })).status).toBe(201);
    const vault = await upload('vault.bin', randomBytes(10_000));
    expect(vault.ack).toMatchObject({ mode: 'C', degraded: false });
    expect(vault.ack.acked.length).toBeGreaterThanOrEqual(2);
  }, 120_000);

  it('once the delay is lifted, writes return to plain strong', async () => {
    await setLatency(DELAYED, 0);
    await waitFor(
      async () => {
        await upload('recovering.bin', randomBytes(4_000));
        return (await writePath()).path === 'strong';
      },
      'the write path back to strong',
      scaled(30_000),
    );
    const w = await upload('after.bin', randomBytes(8_000));
    expect(w.ack).toMatchObject({ mode: 'C', degraded: false });
    const audit = await stack.fetchJson('/v1/audit', { token: admin.token });
    const paths = (audit.body.entries as { action: string; detail?: { path?: string } }[]).filter((e) => e.action === 'write_path').map((e) => e.detail?.path);
    expect(paths[0]).toBe('strong'); // newest first
    expect(paths).toContain('deadline');
  }, 120_000);
});
