/**
 * Controller state survives a restart of the local server: stop it while in A (with overrides,
 * critical keys and hints set), start it again on the same data dir, and it comes back in A with
 * its samples and everything the operators set.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { startTestStack, type TestStack } from '../helpers/stack.js';

const ENV = { ECHOFS_PROBE_TIMEOUT_MS: '300', ECHOFS_MODE_CACHE_MS: '100' };
let stack: TestStack | undefined;
let dataDir: string | undefined;

afterAll(async () => {
  await stack?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('controller state across a restart of the local server', () => {
  it('comes back in A with its samples, overrides, critical keys and hints', async () => {
    stack = await startTestStack(ENV, { schedules: false, catalog: 'disk' });
    dataDir = stack.dataDir;
    const admin = await stack.registerAdmin();
    const alice = await stack.register();

    await stack.system.tasks.probe!.runNow();
    for (const r of ['eu-west-1', 'ap-southeast-1']) stack.system.faults.set(r, { state: 'blackhole' });
    await stack.system.tasks.probe!.runNow();
    const before = await stack.fetchJson('/v1/status', { token: alice.token });
    expect(before.body.mode).toBe('A');
    const samples = before.body.samples.length as number;
    expect(samples).toBe(2);

    expect((await stack.fetchJson('/v1/override', { token: admin.token, body: { mode: 'H', object_id: 'pinned.bin' } })).status).toBe(200);
    expect((await stack.fetchJson('/v1/critical-keys', { token: admin.token, body: { key: 'ledger.db' } })).status).toBe(201);
    expect((await stack.fetchJson('/v1/hint', { token: admin.token, body: { object_id: 'shared-object', hint: 'strong' } })).status).toBe(200);

    await stack.stop({ keepData: true });
    stack = await startTestStack(ENV, { schedules: false, dataDir });

    const after = await stack.fetchJson('/v1/status', { token: alice.token });
    expect(after.body.mode).toBe('A');
    expect(after.body.samples).toHaveLength(samples);
    expect(after.body.version).toBe(before.body.version);
    expect((await stack.fetchJson('/v1/critical-keys', { token: admin.token })).body.critical_keys).toEqual(['ledger.db']);
    expect((await stack.fetchJson('/v1/mode?object_id=pinned.bin', { token: alice.token })).body.mode).toBe('H');
    expect((await stack.fetchJson('/v1/mode?object_id=ledger.db', { token: alice.token })).body.mode).toBe('C');
    // Controller mode A shifted one step toward C by the 'strong' hint.
    expect((await stack.fetchJson('/v1/mode?object_id=shared-object', { token: alice.token })).body).toMatchObject({ mode: 'H' });
    const audit = await stack.fetchJson('/v1/audit', { token: admin.token });
    expect(audit.body.entries.map((e: { action: string }) => e.action)).toEqual(['set_hint', 'add_critical_key', 'set_override', 'emergency_transition']);
  }, 120_000);
});
