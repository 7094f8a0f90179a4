/**
 * The storage emulators (one s3rver per region, dynalite) in a process of their own, for benches
 * that measure the server's throughput with the replicas apart from it, as a deployment's S3 and
 * DynamoDB are apart from its functions. `startEmulatorsApart(o)` forks this file; the child starts
 * the same emulators `npm start` runs in-process (infra/local/emulators.ts), reports their ports
 * over IPC and stops them when asked, or when its parent goes away.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { EmulatorOptions, Emulators } from '#local/emulators.js';

type Started = Pick<Emulators, 's3' | 'dynamoEndpoint' | 'dynamoPort'>;
type FromChild = { started: Started } | { failed: string };

/** Start the emulators in a child process; `stop()` stops them there and waits for the child to exit. */
export async function startEmulatorsApart(o: EmulatorOptions): Promise<Emulators & { pid: number }> {
  const child = fork(fileURLToPath(import.meta.url), [JSON.stringify(o)], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ECHOFS_LOG_LEVEL: process.env.ECHOFS_LOG_LEVEL ?? 'ERROR' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const started = await new Promise<Started>((resolve, reject) => {
    child.once('message', (m: FromChild) => ('started' in m ? resolve(m.started) : reject(new Error(`emulators did not start apart: ${'failed' in m ? m.failed : 'no answer'}`))));
    child.once('exit', (code) => reject(new Error(`the emulators' process exited (${code}) before they started`)));
  });
  let stopping: Promise<void> | undefined;
  return {
    ...started,
    pid: child.pid as number,
    stop() {
      stopping ??= (async () => {
        if (child.connected) child.send('stop');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      })();
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
