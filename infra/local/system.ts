/**
 * The whole EchoFS system on one machine: one s3rver per region behind its own fault proxy,
 * dynalite, the catalog (PGlite under the data dir, or DATABASE_URL), every function's handler
 * behind the local API Gateway adapter, and in-process timers in place of EventBridge schedules.
 *
 * Schedules (EventBridge Scheduler in the cloud) are in-process timers here: probe every
 * ECHOFS_PROBE_INTERVAL_MS, drain the replication backlog every few seconds (writes also kick it),
 * anti-entropy sweep and garbage collection on slower periods. A task never overlaps itself.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { loadConfig, type Config } from '#shared/config.js';
import type { FunctionName } from '#shared/routes.js';
import { logger } from '#shared/observability.js';
import type { Services } from '#shared/runtime.js';
import type { Catalog, EmbeddedCatalogOpener } from '#shared/catalog/db.js';
import type { EmulatorOptions, Emulators, S3Emulator } from './emulators.js';
import type { FaultProxy } from './faultproxy.js';
import type { LambdaHttpHandler } from './adapter.js';
import type { FaultControl } from './faults.js';

/**
 * The modules behind the system, loaded when a start begins rather than when this module is
 * imported: loading them (the AWS SDK, the handlers) while the embedded catalog opens and the
 * emulators start runs them side by side. (The emulators' module is loaded with their start.)
 */
async function loadParts() {
  const [runtime, faultproxy, adapter, faults, auth, files, controller, prober, replicator] = await Promise.all([
    import('#shared/runtime.js'),
    import('./faultproxy.js'),
    import('./adapter.js'),
    import('./faults.js'),
    import('#functions/auth/handler.js'),
    import('#functions/files/handler.js'),
    import('#functions/controller/handler.js'),
    import('#shared/controller/factory.js'),
    import('#shared/storage/replication-runner.js'),
  ]);
  return {
    buildServices: runtime.buildServices,
    closeServices: runtime.closeServices,
    startFaultProxy: faultproxy.startFaultProxy,
    createAdapter: adapter.createAdapter,
    createLocalHandler: faults.createHandler,
    faultControl: faults.faultControl,
    createAuthHandler: auth.createHandler,
    createFilesHandler: files.createHandler,
    createControllerHandler: controller.createHandler,
    createProber: prober.createProber,
    runnerFor: replicator.runnerFor,
  };
}

/** Open (and migrate) the catalog the configuration names; PGlite is loaded only when it is the one. */
async function openCatalogFor(config: Config, opener: EmbeddedCatalogOpener | undefined): Promise<Catalog> {
  const { catalogFromConfig } = await import('#shared/catalog/db.js');
  const embedded = config.databaseUrl || config.dataApi ? undefined : (opener ?? (await import('#shared/catalog/pglite.js')).openPgliteCatalog);
  // The local runtime migrates at start (in the cloud the migrate function does, at deploy).
  return catalogFromConfig(config, { migrate: true, embedded });
}

/** Create the controller table when missing, through a client of its own (the services build theirs). */
async function prepareControllerTable(config: Config): Promise<void> {
  const { storeFromConfig } = await import('#shared/controller/factory.js');
  const store = storeFromConfig(config);
  try {
    await store.ensureTable();
  } finally {
    store.destroy();
  }
}

export interface StartOptions {
  /** HTTP port; 0 picks a free one. Default: PORT from the environment (8080). */
  port?: number;
  /** Where all local state lives (catalog, buckets, controller table, JWT secret). */
  dataDir: string;
  /** Environment overrides on top of process.env (PORT and ECHOFS_DATA_DIR come from the options). */
  env?: Record<string, string>;
  /** Region names; default ECHOFS_REGIONS or the three default regions. */
  regions?: string[];
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** Static web app directory (default web/dist). */
  webDir?: string;
  /** Start the scheduled tasks (default true). Tests that drive tasks by hand turn this off. */
  schedules?: boolean;
  /**
   * Opens the embedded catalog when no database server is configured (default: PGlite keeping its
   * files under <dataDir>/pglite). Tests give one that opens a migrated catalog in memory.
   */
  embeddedCatalog?: EmbeddedCatalogOpener;
  /**
   * Starts the storage emulators (default: in this process, ./emulators.ts). The throughput bench
   * gives one that runs them in a process of their own, as the replicas of a deployment run apart
   * from the functions.
   */
  startEmulators?: (o: EmulatorOptions) => Promise<Emulators>;
}

export interface ScheduledTask {
  name: string;
  intervalMs: number;
  /** Run once now (waits for a run already in progress first). */
  runNow(): Promise<void>;
}

export interface LocalSystem {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  config: Config;
  services: Services;
  /** Per-region fault proxy control. */
  faults: FaultControl;
  /** The emulators behind the proxies (direct endpoints bypass the faults: for tests only). */
  replicas: Record<string, S3Emulator>;
  dynamoEndpoint: string;
  /** The functions whose handlers are wired. */
  functions: FunctionName[];
  tasks: Record<string, ScheduledTask>;
  stop(): Promise<void>;
}

/** The port is taken by another process. */
export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`Port ${port} is already in use: stop the other server or set PORT to a free port.`);
    this.name = 'PortInUseError';
  }
}

/** Another running EchoFS holds this data dir. */
export class DataDirInUseError extends Error {
  constructor(readonly dataDir: string, readonly pid: number) {
    super(
      `The data dir ${dataDir} is in use by another EchoFS process (pid ${pid}): stop it or set ECHOFS_DATA_DIR to another directory ` +
        `(if no EchoFS is running, delete ${join(dataDir, 'echofs.lock')}).`,
    );
    this.name = 'DataDirInUseError';
  }
}

/** Periods of the local schedules other than the probe (which follows ECHOFS_PROBE_INTERVAL_MS). */
export const LOCAL_SCHEDULES_MS = { drain: 5_000, sweep: 5 * 60_000, gc: 60 * 60_000 };

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A process killed (SIGKILL) whose parent has not reaped it yet is a zombie: it holds nothing.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): the signal check is all there is
  }
}

/**
 * A lock file so two processes (or two systems in one process) never share a data dir. `afterCrash`:
 * the previous holder died without stopping (its lock was still there).
 */
/**
 * The data dir's own id (made on its first start, kept in `instance-id`): the local runtime's
 * replication worker ids begin with it, so a later process on the same data dir knows which
 * claims in a shared catalog were its predecessors'.
 */
async function dataDirInstanceId(dataDir: string): Promise<string> {
  const file = join(dataDir, 'instance-id');
  const kept = (await readFile(file, 'utf8').catch(() => '')).trim();
  if (/^[0-9a-f-]{36}$/.test(kept)) return kept;
  const id = randomUUID();
  await writeFile(file, `${id}\n`);
  return id;
}

async function lockDataDir(dataDir: string): Promise<{ release: () => Promise<void>; afterCrash: boolean }> {
  const file = join(dataDir, 'echofs.lock');
  const token = `${process.pid}`;
  let afterCrash = false;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await writeFile(file, token, { flag: 'wx' });
      return { release: () => rm(file, { force: true }), afterCrash };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(holder) && holder > 0 && pidAlive(holder)) throw new DataDirInUseError(dataDir, holder);
      await rm(file, { force: true }); // left by a process that died
      afterCrash = true;
    }
  }
  throw new Error(`could not lock the data dir ${dataDir}`);
}

class Scheduler {
  private timers = new Map<string, NodeJS.Timeout>();
  private running = new Map<string, Promise<void>>();
  private stopped = false;
  readonly tasks: Record<string, ScheduledTask> = {};

  add(name: string, intervalMs: number, run: () => Promise<unknown>, start: boolean): void {
    const once = (): Promise<void> => {
      const inFlight = this.running.get(name);
      if (inFlight) return inFlight;
      const p = (async () => {
        try {
          await run();
        } catch (err) {
          logger.warn('scheduled task failed', { task: name, error: err as Error });
        } finally {
          this.running.delete(name);
        }
      })();
      this.running.set(name, p);
      return p;
    };
    const loop = () => {
      if (this.stopped) return;
      this.timers.set(
        name,
        setTimeout(() => {
          void once().then(loop);
        }, intervalMs),
      );
    };
    this.tasks[name] = {
      name,
      intervalMs,
      runNow: async () => {
        await this.running.get(name);
        await once();
      },
    };
    if (start) loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    await Promise.allSettled([...this.running.values()]);
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolveListen, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(port) : err);
    };
    const onListening = () => {
      server.off('error', onError);
      resolveListen((server.address() as AddressInfo).port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

async function closeHttp(server: Server, graceMs: number): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((r) => server.close(() => r()));
  server.closeIdleConnections();
  const force = setTimeout(() => server.closeAllConnections(), graceMs);
  await closed;
  clearTimeout(force);
}

/** Start the whole system. On any failure, what was started is stopped again before rethrowing. */
export async function startSystem(opts: StartOptions): Promise<LocalSystem> {
  const bootMs = Math.round(process.uptime() * 1000);
  const dataDir = resolve(opts.dataDir);
  const env: Record<string, string | undefined> = { ...process.env, ...(opts.env ?? {}), ECHOFS_DATA_DIR: dataDir, ECHOFS_STAGE: 'local' };
  if (opts.port !== undefined) env.PORT = String(opts.port);
  if (opts.regions) env.ECHOFS_REGIONS = opts.regions.join(',');
  const config = loadConfig(env);

  await mkdir(dataDir, { recursive: true });
  // How long each start-up step took (ms), in the start-up log line: a slow restart names its cause.
  const phases: Record<string, number> = {};
  let mark = performance.now();
  const phase = (name: string) => {
    const now = performance.now();
    phases[name] = Math.round(now - mark);
    mark = now;
  };
  // Stopped in reverse order of start, except the HTTP server, which stops taking requests first.
  const cleanups: { name: string; run: () => Promise<void> }[] = [];
  const unwind = async () => {
    const steps = cleanups.splice(0).reverse();
    steps.sort((a, b) => Number(b.name === 'http server') - Number(a.name === 'http server'));
    for (const c of steps) {
      try {
        await c.run();
      } catch (err) {
        logger.warn('stop step failed', { step: c.name, error: err as Error });
      }
    }
  };

  try {
    const lock = await lockDataDir(dataDir);
    cleanups.push({ name: 'data dir lock', run: lock.release });
    const claimPrefix = `local:${await dataDirInstanceId(dataDir)}:`;
    phase('lock');
    // Take the port first, before anything slow starts, so a port in use fails at once (nothing
    // to unwind but the lock); until everything is up it answers 503.
    let listener: RequestListener = (_req, res) => {
      res.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', 'Retry-After': '1' });
      res.end(JSON.stringify({ success: false, error: { code: 'starting', message: 'EchoFS is starting; retry shortly.' } }));
    };
    const server = createServer((req, res) => listener(req, res));
    // Keep idle connections well past a client's own idle timeout (clients learn it from the
    // Keep-Alive header), so a client never reuses a socket the server is closing at that moment.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    const host = opts.host ?? '127.0.0.1';
    const port = await listen(server, config.port, host);
    cleanups.push({ name: 'http server', run: () => closeHttp(server, 3000) });
    config.port = port;
    const url = `http://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
    config.publicUrl ??= url;
    phase('listen');
    // The catalog is the slowest part of a start (PGlite: the WebAssembly Postgres, recovery after
    // a crash) and needs nothing else: open it now, under the lock, beside everything that follows.
    const catalogOpening = openCatalogFor(config, opts.embeddedCatalog);
    let catalogTaken = false;
    cleanups.push({
      name: 'catalog (start failed before services took it)',
      run: async () => {
        if (catalogTaken) return;
        const c = await catalogOpening.catch(() => undefined);
        await c?.close();
      },
    });
    // The emulators need nothing else either: they start beside the catalog.
    const emulatorOptions: EmulatorOptions = { dataDir, regions: config.regions, buckets: config.buckets, afterCrash: lock.afterCrash };
    const emulatorsStarting = opts.startEmulators
      ? opts.startEmulators(emulatorOptions)
      : import('./emulators.js').then(({ startEmulators }) => startEmulators(emulatorOptions));
    cleanups.push({
      name: 'emulators',
      run: async () => {
        const e = await emulatorsStarting.catch(() => undefined);
        await e?.stop();
      },
    });
    const partsLoading = loadParts();
    // Any may fail while another is awaited; the failure is rethrown where it is awaited.
    catalogOpening.catch(() => undefined);
    emulatorsStarting.catch(() => undefined);
    partsLoading.catch(() => undefined);


    const { buildServices, closeServices, startFaultProxy, createAdapter, createLocalHandler, faultControl, createAuthHandler, createFilesHandler, createControllerHandler, createProber, runnerFor } =
      await partsLoading;
    phase('modules');

    const emulators: Emulators = await emulatorsStarting;
    phase('emulators');

    const started: FaultProxy[] = [];
    cleanups.push({ name: 'fault proxies', run: async () => void (await Promise.all(started.map((p) => p.close()))) });
    // All at once; every one is settled (and so closed by the unwind) before a failure is rethrown.
    const proxyStarts = await Promise.allSettled(
      config.regions.map(async (region) => {
        const proxy = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: (emulators.s3[region] as S3Emulator).port });
        started.push(proxy);
        return [region, proxy] as const;
      }),
    );
    const proxyFailure = proxyStarts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (proxyFailure) throw proxyFailure.reason;
    // Keyed in the order of the regions.
    const proxies: Record<string, FaultProxy> = Object.fromEntries(proxyStarts.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])));
    config.s3Endpoints = Object.fromEntries(Object.entries(proxies).map(([r, p]) => [r, p.endpoint]));
    config.dynamoEndpoint = emulators.dynamoEndpoint;
    const faults = faultControl(proxies);
    // The controller table needs dynalite alone: it is made ready (created on a first start) while
    // the catalog is still opening, so building the services finds it there.
    const tableReady = prepareControllerTable(config);
    tableReady.catch(() => undefined);
    phase('proxies');

    const catalog = await catalogOpening;
    // Replication claims of a process that crashed are handed back now rather than after their
    // lease. The embedded catalog is this process's alone (the data dir's lock): every claim in it
    // is such a one. A catalog on a server may be shared: only the claims of this data dir's
    // earlier processes (their worker ids carry its instance id) are, as this process holds its lock.
    {
      const { releaseClaims } = await import('#shared/catalog/backlog-repository.js');
      const released = await releaseClaims(catalog.db, catalog.kind === 'pglite' ? undefined : claimPrefix);
      if (released > 0) logger.info('replication claims of a previous process released', { rows: released });
    }
    phase('catalog');
    await tableReady;
    catalogTaken = true;
    const services = await buildServices(config, { catalog }).catch(async (err: unknown) => {
      await catalog.close().catch(() => undefined);
      throw err;
    });
    cleanups.push({ name: 'services', run: () => closeServices(services) });
    phase('services');

    const handlers: Partial<Record<FunctionName, LambdaHttpHandler>> = {
      auth: createAuthHandler(services),
      files: createFilesHandler(services),
      local: createLocalHandler({ authenticator: services.authenticator, faults, audit: services.controller?.store }),
    };
    const controller = services.controller;
    if (controller) handlers.controller = createControllerHandler({ controller, authenticator: services.authenticator });

    const scheduler = new Scheduler();
    const replicator = runnerFor(services, { workerId: `${claimPrefix}${process.pid}:${randomUUID().slice(0, 8)}` });
    cleanups.push({
      name: 'schedules',
      run: async () => {
        await scheduler.stop();
        await replicator.idle();
      },
    });
    const timers = opts.schedules !== false;
    if (controller) {
      const prober = createProber({ ...services, controller });
      scheduler.add('probe', config.probeIntervalMs, () => prober.tick(), timers);
    }
    scheduler.add('drain', LOCAL_SCHEDULES_MS.drain, () => replicator.drain(), timers);
    scheduler.add('sweep', LOCAL_SCHEDULES_MS.sweep, () => replicator.sweep(), timers);
    scheduler.add('gc', LOCAL_SCHEDULES_MS.gc, () => replicator.gc(), timers);

    // Each request's time budget (API Gateway's 30 s unless ECHOFS_REQUEST_TIMEOUT_MS says otherwise):
    // past it, a write not yet at its commit point answers 504 and commits nothing.
    const requestTimeoutMs = Number(env.ECHOFS_REQUEST_TIMEOUT_MS ?? '') || undefined;
    listener = createAdapter({ handlers, webDir: opts.webDir, timeoutMs: requestTimeoutMs });

    let stopping: Promise<void> | undefined;
    const system: LocalSystem = {
      url,
      port,
      config,
      services,
      faults,
      replicas: emulators.s3,
      dynamoEndpoint: emulators.dynamoEndpoint,
      functions: Object.keys(handlers) as FunctionName[],
      tasks: scheduler.tasks,
      stop() {
        stopping ??= unwind();
        return stopping;
      },
    };
    phase('handlers');
    logger.info('EchoFS local system started', {
      url,
      dataDir,
      regions: config.regions,
      functions: system.functions,
      catalog: services.catalog.kind,
      startMs: phases,
      bootMs,
      processUptimeMs: Math.round(process.uptime() * 1000),
    });
    // What the start leaves behind (above all the PGlite instance that initialised a fresh data
    // dir: a few hundred MiB of WebAssembly memory) is garbage from here on; where node exposes its
    // collector (`npm start` runs it with --expose-gc) it is collected now, not at the first major
    // collection an idle server may not run for minutes.
    const collect = (globalThis as { gc?: () => void }).gc;
    if (collect) setTimeout(collect, 0).unref();
    return system;
  } catch (err) {
    await unwind();
    throw err;
  }
}
