/**
 * A bench helper process: this checkout's TypeScript file run by node with tsx, given one JSON
 * argument, talking over IPC. `stop()` asks it to stop ('stop' message), kills it if it has not
 * exited within ten seconds, and resolves once it has exited. `startBenchWorker` and
 * `serveBenchWorker` are the two sides of a helper that answers one question at a time.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface BenchChild {
  child: ChildProcess;
  stop(): Promise<void>;
}

/**
 * `BENCH_CPU_PROF=<dir>` writes a V8 CPU profile of every helper process into that folder (Node
 * refuses `--cpu-prof` in NODE_OPTIONS, so it is passed here): open it in Chrome's DevTools.
 */
function execArgv(): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  return ['--import', 'tsx', ...(dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [])];
}

export function forkBenchChild(file: string, arg: unknown, env: NodeJS.ProcessEnv = process.env): BenchChild {
  const child = fork(file, [JSON.stringify(arg)], { execArgv: execArgv(), env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopping: Promise<void> | undefined;
  return {
    child,
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

type Answer<R> = { ready: true } | { result: R } | { failed: string };

/** A bench helper process that answers one question at a time (its side: `serveBenchWorker`). */
export interface BenchWorker<Q, R> {
  pid: number;
  ask(question: Q): Promise<R>;
  stop(): Promise<void>;
}

/**
 * Fork `file` (which calls `serveBenchWorker`) with `arg`; resolves once it says it is ready.
 * `what` names it in errors ("the load process", "the client process").
 */
export async function startBenchWorker<Q, R>(file: string, arg: unknown, what: string): Promise<BenchWorker<Q, R>> {
  const { child, stop } = forkBenchChild(file, arg);
  const next = () =>
    new Promise<Answer<R>>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`${what} exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (m: Answer<R>) => {
        child.off('exit', onExit);
        resolve(m);
      });
    });
  const ready = await next().catch((err: unknown) => ({ failed: err instanceof Error ? err.message : String(err) }));
  if (!('ready' in ready)) {
    await stop();
    throw new Error(`${what} did not start: ${'failed' in ready ? ready.failed : 'no answer'}`);
  }
  return {
    pid: child.pid as number,
    async ask(question) {
      const answer = next();
      child.send(question as object);
      const a = await answer;
      if ('result' in a) return a.result;
      throw new Error(`${what} failed: ${'failed' in a ? a.failed : 'unexpected answer'}`);
    },
    stop,
  };
}

/**
 * The helper's side of `startBenchWorker`: each question is answered with `answer`'s result (or
 * its failure); 'stop', or the parent going away, runs `close` and exits.
 */
export function serveBenchWorker<Q, R>(answer: (question: Q) => Promise<R>, close: () => unknown): void {
  const send = (m: Answer<R>) => process.send?.(m);
  const exit = () => void Promise.resolve(close()).finally(() => process.exit(0));
  process.on('message', (m: Q | 'stop') => {
    if (m === 'stop') return exit();
    answer(m).then(
      (result) => send({ result }),
      (err: unknown) => send({ failed: err instanceof Error ? err.message : String(err) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
  send({ ready: true });
}
