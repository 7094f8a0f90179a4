/**
 * A bench helper process: this checkout's TypeScript file run by node with tsx, given one JSON
 * argument, talking over IPC. `stop()` asks it to stop ('stop' message), kills it if it has not
 * exited within ten seconds, and resolves once it has exited.
 */
import { fork, type ChildProcess } from 'node:child_process';

export interface BenchChild {
  child: ChildProcess;
  stop(): Promise<void>;
}

export function forkBenchChild(file: string, arg: unknown, env: NodeJS.ProcessEnv = process.env): BenchChild {
  const child = fork(file, [JSON.stringify(arg)], { execArgv: ['--import', 'tsx'], env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
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
