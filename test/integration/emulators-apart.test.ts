/**
 * The storage emulators in processes of their own (bench/replica-host.ts), as `npm run bench:small`
 * measures throughput with the replicas apart from the server, here one process per region (the
 * first also runs dynalite): the same system serves uploads and downloads through them, and
 * stopping the system stops those processes. The bench's clients run apart too
 * (bench/small-load.ts): their loops write through the system and to the replicas.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicaProcesses, startEmulatorsApart } from '../../bench/replica-host.js';
import { startLoadApart } from '../../bench/small-load.js';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('emulators in a process of their own', () => {
  let stack: TestStack;
  let user: TestUser;
  let pids: number[] = [];

  beforeAll(async () => {
    stack = await startTestStack({}, {
      schedules: false,
      startEmulators: async (o) => {
        const e = await startEmulatorsApart(o, 'per-region');
        pids = e.pids;
        return e;
      },
    });
    user = await stack.register();
  });
  afterAll(() => stack?.stop());

  it('serves a strong upload and its download through replicas held by a process per region, takes the bench clients\' load from another, and stops them all', async () => {
    expect(pids, 'one emulators process per region').toHaveLength(stack.system.config.regions.length);
    expect(new Set([...pids, process.pid]).size, 'each its own process').toBe(pids.length + 1);
    for (const pid of pids) expect(alive(pid), `emulators process ${pid} runs while the system does`).toBe(true);
    expect(new Set(stack.system.config.regions.map((r) => stack.system.config.s3Endpoints[r])).size, 'a replica endpoint per region').toBe(pids.length);
    for (const region of stack.system.config.regions) expect(stack.system.config.s3Endpoints[region], region).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const data = randomBytes(40_000);
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(data)]), 'apart.bin');
    const up = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${user.token}` } });
    const body = (await up.json()) as { data: { file_id: string } };
    expect(up.status, JSON.stringify(body)).toBe(201);
    expect(up.headers.get('x-echofs-mode')).toBe('C');
    const down = await fetch(`${stack.url}/api/v1/files/${body.data.file_id}/download`, { headers: { Authorization: `Bearer ${user.token}` } });
    expect(down.status).toBe(200);
    expect(Buffer.from(await down.arrayBuffer()).equals(data)).toBe(true);

    // The bench's clients in a process of their own: a short loop of each operation, no failure.
    const load = await startLoadApart({
      url: stack.url,
      token: user.token,
      mode: 'strong',
      size: 16 * 1024,
      replicas: stack.system.config.regions.map((region) => ({ region, endpoint: stack.system.config.s3Endpoints[region] as string, bucket: stack.system.config.buckets[region] as string })),
    });
    try {
      for (const loop of ['floor', 'echo'] as const) {
        const r = await load.run(loop, 2, 0.5);
        expect(r.failures, `${loop} loop failures`).toEqual({});
        expect(r.ops, `${loop} loop operations`).toBeGreaterThan(0);
        expect(r.latencies).toHaveLength(r.ops);
      }
      const seq = await load.sequence('echo', 3);
      expect(seq.ops).toBe(3);
      expect(seq.latencies).toHaveLength(3);
      const listed = await stack.fetchJson('/api/v1/files', { token: user.token });
      expect(listed.status).toBe(200);
      expect(JSON.stringify(listed.body)).toContain(`small-${load.pid}-`);
    } finally {
      await load.stop();
    }
    expect(alive(load.pid), 'the load process exits when stopped').toBe(false);

    await stack.stop();
    for (const pid of pids) await waitFor(() => !alive(pid), `the emulators process ${pid} to exit after the system stopped`);
  });

  it('reads how to spread the regions from BENCH_REPLICA_PROCESSES, and refuses anything else', () => {
    expect(replicaProcesses({})).toBe('one');
    expect(replicaProcesses({ BENCH_REPLICA_PROCESSES: 'per-region' })).toBe('per-region');
    expect(() => replicaProcesses({ BENCH_REPLICA_PROCESSES: 'two' })).toThrow(/must be 'one' or 'per-region'/);
  });
});
