/**
 * The cloud's replication trigger: kick() resolves once Lambda has accepted the asynchronous
 * invoke (here the Invoke API emulator, through the real SDK), so a write path that awaits it
 * sends the invoke before its container is frozen.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLambdaInvoke, type LambdaInvokeEmulator } from '#emulators/lambda-invoke.js';
import { createLambdaTrigger } from '#shared/storage/replicator.js';

describe('createLambdaTrigger', () => {
  let api: LambdaInvokeEmulator;
  const saved = { ...process.env };
  beforeAll(async () => {
    api = await startLambdaInvoke({ resolve: (n) => (n === 'echofs-replicator' ? n : undefined), invoke: async () => ({ payload: 'null' }) });
    Object.assign(process.env, { AWS_ENDPOINT_URL_LAMBDA: api.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' });
  });
  afterAll(async () => {
    process.env = saved;
    await api?.close();
  });

  it('kick() resolves after the Event invoke was accepted; kicks during it share it; one within the window is skipped', async () => {
    const trigger = createLambdaTrigger('echofs-replicator', 60_000);
    const a = trigger.kick();
    const b = trigger.kick();
    expect(b).toBe(a);
    await a;
    expect(api.accepted).toHaveLength(1);
    expect(api.accepted[0]).toMatchObject({ fn: 'echofs-replicator', type: 'Event' });
    expect(JSON.parse(api.accepted[0]?.payload ?? '')).toEqual({ task: 'drain' });
    await trigger.kick();
    expect(api.accepted).toHaveLength(1);
  });

  it('a refused invoke is logged, never thrown to the write path', async () => {
    const trigger = createLambdaTrigger('no-such-function');
    await expect(trigger.kick()).resolves.toBeUndefined();
  });
});
