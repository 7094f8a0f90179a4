/**
 * The system a bench measures, started in the bench's own process (`here`) or in a process of its
 * own (`apart`, this file forked), so that the bench's load generator and checker do not share the
 * server's thread, as a deployment's clients do not share its functions. Either way the bench sees
 * the same small interface: the URL, the regions, a region's fault picture to set, where each
 * replica keeps its files, and stop.
 */
import { fileURLToPath } from 'node:url';
import type { FaultSettings } from '#local/faultproxy.js';
import type { StartOptions } from '#local/system.js';
import { forkBenchChild } from './child.js';
import { startEmulatorsApart } from './replica-host.js';

export interface BenchSystem {
  url: string;
  regions: string[];
  /** Set one region's fault picture (fields left out keep their values). */
  setFault(region: string, settings: Partial<FaultSettings>): Promise<void>;
  /** Where each region's emulator keeps its objects. */
  replicaDirs: Record<string, string>;
  /** The server's process id (this process when `here`). */
  pid: number;
  stop(): Promise<void>;
}

/** What a system is started with: StartOptions that cross a process boundary. */
export type BenchSystemOptions = Pick<StartOptions, 'port' | 'dataDir' | 'env' | 'regions'> & {
  /** The emulators in a process of their own (./replica-host.ts). */
  emulatorsApart: boolean;
};

export async function startBenchSystem(o: BenchSystemOptions): Promise<BenchSystem> {
  const { startSystem } = await import('#local/system.js');
  const { emulatorsApart, ...start } = o;
  const sys = await startSystem({ ...start, ...(emulatorsApart ? { startEmulators: startEmulatorsApart } : {}) });
  return {
    url: sys.url,
    regions: sys.faults.regions(),
    setFault: async (region, settings) => void sys.faults.set(region, settings),
    replicaDirs: Object.fromEntries(Object.entries(sys.replicas).map(([r, e]) => [r, e.directory])),
    pid: process.pid,
    stop: () => sys.stop(),
  };
}

type Started = Pick<BenchSystem, 'url' | 'regions' | 'replicaDirs'>;
type ToChild = 'stop' | { fault: { id: number; region: string; settings: Partial<FaultSettings> } };
type FromChild = { started: Started } | { failed: string } | { faultSet: number } | { faultFailed: number; message: string };

/** The system started in a process of its own; stop() stops it there and waits for the process to exit. */
export async function startBenchSystemApart(o: BenchSystemOptions): Promise<BenchSystem> {
  const { child, stop } = forkBenchChild(fileURLToPath(import.meta.url), o);
  const pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  let exited = false;
  child.once('exit', (code) => {
    exited = true;
    for (const p of pending.values()) p.reject(new Error(`the system's process exited (${code})`));
    pending.clear();
  });
  child.on('message', (m: FromChild) => {
    if ('faultSet' in m) pending.get(m.faultSet)?.resolve();
    else if ('faultFailed' in m) pending.get(m.faultFailed)?.reject(new Error(m.message));
    else return;
    pending.delete('faultSet' in m ? m.faultSet : m.faultFailed);
  });
  let started: Started;
  try {
    started = await new Promise<Started>((resolve, reject) => {
      child.on('message', (m: FromChild) => {
        if ('started' in m) resolve(m.started);
        else if ('failed' in m) reject(new Error(`the system did not start apart: ${m.failed}`));
      });
      child.once('exit', (code) => reject(new Error(`the system's process exited (${code}) before the system started`)));
    });
  } catch (err) {
    await stop();
    throw err;
  }
  let nextId = 0;
  return {
    ...started,
    pid: child.pid as number,
    setFault(region, settings) {
      if (exited) return Promise.reject(new Error("the system's process has exited"));
      const id = nextId++;
      return new Promise<void>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        child.send({ fault: { id, region, settings } } satisfies ToChild);
      });
    },
    stop,
  };
}

function host(): void {
  const send = (m: FromChild) => process.send?.(m);
  let system: BenchSystem | undefined;
  let stopping = false;
  const stopAndExit = (code: number) => {
    if (stopping) return;
    stopping = true;
    void (system?.stop() ?? Promise.resolve()).finally(() => process.exit(code));
  };
  process.on('message', (m: ToChild) => {
    if (m === 'stop') return stopAndExit(0);
    const { id, region, settings } = m.fault;
    if (!system) return send({ faultFailed: id, message: 'the system has not started' });
    system.setFault(region, settings).then(
      () => send({ faultSet: id }),
      (err: unknown) => send({ faultFailed: id, message: err instanceof Error ? err.message : String(err) }),
    );
  });
  process.on('disconnect', () => stopAndExit(0));
  startBenchSystem(JSON.parse(process.argv[2] as string) as BenchSystemOptions).then(
    (s) => {
      system = s;
      send({ started: { url: s.url, regions: s.regions, replicaDirs: s.replicaDirs } });
    },
    (err: unknown) => {
      send({ failed: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      process.exit(1);
    },
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) host();
