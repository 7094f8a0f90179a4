/**
 * The storage emulators (one s3rver per region, dynalite) in processes of their own, for benches
 * that measure the server with the replicas apart from it, as a deployment's S3 and DynamoDB are
 * apart from its functions. `startEmulatorsApart(o)` forks this file; a child starts the same
 * emulators `npm start` runs in-process (infra/local/emulators.ts), reports their ports over IPC and
 * stops them when asked, or when its parent goes away.
 *
 * BENCH_REPLICA_PROCESSES says how the regions are spread: `one` (the default), every replica and
 * dynalite in one child; `per-region`, a child per region (the first also runs dynalite), as the
 * regions of a deployment are independent of one another.
 */
import { fileURLToPath } from 'node:url';
import type { EmulatorOptions, Emulators } from '#local/emulators.js';
import { forkBenchChild } from './child.js';

type Started = Pick<Emulators, 's3' | 'dynamoEndpoint' | 'dynamoPort'>;
type FromChild = { started: Started } | { failed: string };

export type ReplicaProcesses = 'one' | 'per-region';

/** BENCH_REPLICA_PROCESSES, checked. */
export function replicaProcesses(env: Record<string, string | undefined> = process.env): ReplicaProcesses {
  const v = env.BENCH_REPLICA_PROCESSES ?? 'one';
  if (v !== 'one' && v !== 'per-region') throw new Error(`BENCH_REPLICA_PROCESSES must be 'one' or 'per-region' (got '${v}')`);
  return v;
}

/** One child hosting the emulators `o` asks for. */
async function forkHost(o: EmulatorOptions): Promise<Started & { pid: number; stop(): Promise<void> }> {
  const { child, stop } = forkBenchChild(fileURLToPath(import.meta.url), o, { ...process.env, ECHOFS_LOG_LEVEL: process.env.ECHOFS_LOG_LEVEL ?? 'ERROR' });
  try {
    const started = await new Promise<Started>((resolve, reject) => {
      child.once('message', (m: FromChild) => ('started' in m ? resolve(m.started) : reject(new Error(`emulators did not start apart: ${'failed' in m ? m.failed : 'no answer'}`))));
      child.once('exit', (code) => reject(new Error(`the emulators' process exited (${code}) before they started`)));
    });
    return { ...started, pid: child.pid as number, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Start the emulators apart (spread as BENCH_REPLICA_PROCESSES says, or as `processes` says);
 * `stop()` stops them there and waits for every child to exit. `pids`: the children.
 */
export async function startEmulatorsApart(o: EmulatorOptions, processes: ReplicaProcesses = replicaProcesses()): Promise<Emulators & { pids: number[] }> {
  const parts = processes === 'one' ? [o] : o.regions.map((region, i) => ({ ...o, regions: [region], dynamo: i === 0 }));
  const settled = await Promise.allSettled(parts.map((p) => forkHost(p)));
  const hosts = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await Promise.all(hosts.map((h) => h.stop()));
    throw failed.reason;
  }
  const withDynamo = hosts.find((h) => h.dynamoEndpoint !== '') as (typeof hosts)[number];
  let stopping: Promise<void> | undefined;
  return {
    s3: Object.fromEntries(o.regions.flatMap((r) => hosts.flatMap((h) => (h.s3[r] ? [[r, h.s3[r]] as const] : [])))),
    dynamoEndpoint: withDynamo.dynamoEndpoint,
    dynamoPort: withDynamo.dynamoPort,
    pids: hosts.map((h) => h.pid),
    stop() {
      stopping ??= Promise.all(hosts.map((h) => h.stop())).then(() => undefined);
      return stopping;
    },
  };
}

async function host(): Promise<void> {
  const { startEmulators } = await import('#local/emulators.js');
  const send = (m: FromChild) => process.send?.(m);
  let emulators: Emulators;
  try {
    emulators = await startEmulators(JSON.parse(process.argv[2] as string) as EmulatorOptions);
  } catch (err) {
    send({ failed: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  }
  const stop = async () => {
    await emulators.stop().catch(() => undefined);
    process.exit(0);
  };
  process.on('message', (m) => void (m === 'stop' ? stop() : undefined));
  process.on('disconnect', () => void stop());
  send({ started: { s3: emulators.s3, dynamoEndpoint: emulators.dynamoEndpoint, dynamoPort: emulators.dynamoPort } });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) void host();
