/**
 * The load of `npm run bench:small`: its two operations (a 16 KiB single-request upload to EchoFS,
 * and the floor's raw PutObject calls to the replicas) and the closed loop that runs N clients of
 * one of them for a fixed time. small.ts runs it in its own process (the topology of `npm start`),
 * or forks this file to run it apart from the server (`startLoadApart`), as a deployment's clients
 * are: the parent then asks for one loop at a time over IPC.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '#shared/clients.js';
import { serveBenchWorker, startBenchWorker } from './child.js';
import { EchoClient } from './client.js';

export type ModeName = 'strong' | 'available';

export interface LoadTarget {
  /** EchoFS's URL and a signed-in user's token. */
  url: string;
  token: string;
  mode: ModeName;
  size: number;
  /** The replicas as EchoFS reaches them (the fault proxies' endpoints), in region order. */
  replicas: { region: string; endpoint: string; bucket: string }[];
}

export interface LoopResult {
  ops: number;
  seconds: number;
  latencies: number[];
  failures: Record<string, number>;
}

export type OpOutcome = { ok: boolean; cause?: string };

export interface Ops {
  floor(): Promise<OpOutcome>;
  echo(): Promise<OpOutcome>;
  close(): void;
}

export function makeOps(t: LoadTarget): Ops {
  const clients: S3Client[] = [];
  const replicas = t.replicas.map((r) => {
    const client = createS3Client({ region: r.region, endpoint: r.endpoint, timeoutMs: 10_000 });
    clients.push(client);
    return { client, bucket: r.bucket };
  });
  const echo = new EchoClient(t.url, 30_000);
  echo.token = t.token;
  let seq = 0;
  return {
    async floor() {
      const body = randomBytes(t.size);
      const key = `bench-floor/${process.pid}-${seq++}`;
      const targets = t.mode === 'strong' ? replicas : replicas.slice(0, 1);
      await Promise.all(targets.map((r) => r.client.send(new PutObjectCommand({ Bucket: r.bucket, Key: key, Body: body, ContentLength: body.length }))));
      return { ok: true };
    },
    async echo() {
      const out = await echo.upload(`small-${process.pid}-${seq++}.bin`, randomBytes(t.size));
      return out.ok ? { ok: true } : { ok: false, cause: out.cause };
    },
    close() {
      for (const c of clients) c.destroy();
    },
  };
}

/** `clients` concurrent clients, each issuing `op` back to back for `seconds`. */
export async function closedLoop(op: () => Promise<OpOutcome>, clients: number, seconds: number): Promise<LoopResult> {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  let ops = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const s = performance.now();
        let r: OpOutcome;
        try {
          r = await op();
        } catch (err) {
          r = { ok: false, cause: (err as Error).name || 'error' };
        }
        if (!r.ok) failures[r.cause ?? 'error'] = (failures[r.cause ?? 'error'] ?? 0) + 1;
        else {
          ops++;
          latencies.push(performance.now() - s);
        }
      }
    }),
  );
  return { ops, seconds: (performance.now() - t0) / 1000, latencies, failures };
}

/** `n` operations one after another; a failure ends the run (sequential latency allows none). */
export async function sequential(op: () => Promise<OpOutcome>, n: number): Promise<LoopResult> {
  const latencies: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    const r = await op();
    if (!r.ok) throw new Error(`a sequential small write failed: ${JSON.stringify(r)}`);
    latencies.push(performance.now() - s);
  }
  return { ops: n, seconds: (performance.now() - t0) / 1000, latencies, failures: {} };
}

type Question = { loop: 'floor' | 'echo'; clients: number; seconds: number } | { sequential: 'floor' | 'echo'; n: number };

export interface ApartLoad {
  pid: number;
  /** The closed loop of `closedLoop`; resolves with its result. */
  run(loop: 'floor' | 'echo', clients: number, seconds: number): Promise<LoopResult>;
  /** `n` operations one after another (see `sequential`). */
  sequence(op: 'floor' | 'echo', n: number): Promise<LoopResult>;
  stop(): Promise<void>;
}

/** Fork a process that runs the load against `t`. */
export async function startLoadApart(t: LoadTarget): Promise<ApartLoad> {
  const w = await startBenchWorker<Question, LoopResult>(fileURLToPath(import.meta.url), t, 'the load process');
  return {
    pid: w.pid,
    run: (loop, clients, seconds) => w.ask({ loop, clients, seconds }),
    sequence: (op, n) => w.ask({ sequential: op, n }),
    stop: w.stop,
  };
}

function host(): void {
  const ops = makeOps(JSON.parse(process.argv[2] as string) as LoadTarget);
  serveBenchWorker<Question, LoopResult>(
    (m) => {
      const op = ('loop' in m ? m.loop : m.sequential) === 'floor' ? ops.floor : ops.echo;
      return 'sequential' in m ? sequential(op, m.n) : closedLoop(op, m.clients, m.seconds);
    },
    () => ops.close(),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) host();
