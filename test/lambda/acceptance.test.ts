/**
 * The API acceptance suite against the deployed bundles, run the way Lambda runs them (harness.ts):
 * the same scenarios as against `npm start` (test/acceptance/local.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineAcceptance } from '../acceptance/scenarios.js';
import type { Target } from '../acceptance/target.js';
import { startHarness, type Harness } from './harness.js';

let h: Harness;
let target: Target;

beforeAll(async () => {
  h = await startHarness();
  target = {
    name: 'lambda harness',
    url: h.url,
    regions: Object.keys(h.deployment.buckets),
    admin: async () => {
      throw new Error('use adminAccount()');
    },
    async partition(region, on) {
      h.faults.set(region, { state: on ? 'blackhole' : 'up' });
    },
    async runReplicator() {
      const out = await h.runSchedule((s) => s.input.includes('"drain"'));
      if (out?.kind !== 'result') throw new Error(`the scheduled drain failed: ${out?.kind === 'error' ? out.payload.toString('utf8') : 'no result'}`);
    },
    async runProber() {
      await h.runSchedule((s) => s.input.includes('"probe"'), false);
    },
    containersOf(routeKey, since) {
      return h
        .records()
        .filter((r) => r.label === routeKey && r.at >= since)
        .map((r) => r.container);
    },
    stop: () => h.stop(),
  };
});

afterAll(async () => {
  if (!h) return;
  // Figures for the record: bundle size and cold start (spawn to ready, plus the first invocation) per function.
  const rows = Object.values(h.pools).map((p) => {
    const cold = p.records.filter((r) => r.cold);
    const first = cold[0];
    return { fn: p.spec.logicalId, invocations: p.records.length, coldStarts: p.coldStarts, recycled: p.recycled, initMs: first?.initMs, firstInvocationMs: first?.durationMs };
  });
  process.stdout.write(`lambda harness: ${JSON.stringify(rows)}\n`);
  await h.stop();
});

defineAcceptance(() => target);

describe('the Lambda model itself', () => {
  it('containers were frozen between invocations, some recycled, and consecutive invocations changed container', () => {
    const files = h.pools[h.fnFor('files')];
    expect(files).toBeDefined();
    const records = [...(files?.records ?? [])].sort((a, b) => a.at - b.at);
    expect(records.length).toBeGreaterThan(10);
    expect(files?.recycled).toBeGreaterThan(0);
    const sequential = records.slice(1).filter((r, i) => r.container === records[i]?.container && r.at > (records[i]?.at ?? 0) + (records[i]?.durationMs ?? 0));
    expect(sequential, 'back-to-back reuse of one container').toEqual([]);
  });

  it('the replicator kick after a write reaches the Invoke API as an async (Event) invocation', () => {
    const replicator = h.deployment.functions[h.fnFor('replicator')];
    const kicks = h.invokeApi.accepted.filter((a) => a.type === 'Event' && a.fn === replicator?.logicalId);
    expect(kicks.length).toBeGreaterThan(0);
    expect(JSON.parse(kicks[0]?.payload ?? '{}')).toEqual({ task: 'drain' });
  });
});
