import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EchoClient } from '../../bench/client.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

/**
 * The benchmark and nemesis client reads how a write was acknowledged from EchoFS's real answer:
 * the checkers judge critical-key writes and the durability window by it.
 */
describe('bench client against the local stack', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  });
  afterAll(() => stack?.stop());

  it('an upload reports how many replicas held it at the ack (a majority, in strong mode) and the mode', async () => {
    const client = new EchoClient(stack.url);
    const id = randomBytes(4).toString('hex');
    await client.signIn(`bench_${id}`, `bench-${id}@echofs.test`, `pw-${id}-secret`);
    const out = await client.upload(`k-${id}.bin`, randomBytes(16 * 1024));
    expect(out.ok, JSON.stringify(out)).toBe(true);
    if (!out.ok) return;
    expect(out.mode).toBe('C');
    expect(out.value.acked).toBeGreaterThanOrEqual(2);
    expect(out.value.acked).toBeLessThanOrEqual(3);
    expect(out.value.version).toBe('1');
  });
});
