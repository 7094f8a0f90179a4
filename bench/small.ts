/**
 * `npm run bench:small`: small writes (16 KiB single-request uploads) against their floor, measured
 * side by side in the same run on the same local stack.
 *
 * The floor of a write in a mode is what the replicas alone cost for it, through the same fault
 * proxies and the same S3 client settings the engine uses: three parallel PutObject calls (one per
 * replica) for strong, one PutObject for available. Latency is measured in alternating blocks
 * (floor, EchoFS, floor, …) so that drift on a shared machine falls on both alike; the process's
 * CPU time is summed per block kind (client, server and emulators all run in this process, so the
 * ratio compares whole-system CPU per write). Throughput is measured closed-loop with N clients for
 * a fixed time, for EchoFS and for the floor; failed requests are counted by status.
 *
 * Options: --modes strong,available (default both), --writes N per mode for latency (default 200),
 * --block N (default 20), --size BYTES (default 16384), --clients N (default 16), --seconds N
 * (throughput window, default 10), --apart yes|no|only (default yes: throughput is also measured with
 * the emulators and the clients apart, see below; only: that topology alone). The catalog is
 * PGlite unless BENCH_DATABASE_URL (or --database-url) names a PostgreSQL server; a fresh database
 * is created on it and dropped after.
 *
 * Latency and throughput are measured twice: with everything in this process (the topology of `npm
 * start`, where the replicas' emulators and the bench's own clients take the server's one thread),
 * and with the emulators (./replica-host.ts) and the clients (./small-load.ts) each in a process of
 * their own, as a deployment's replicas and clients run apart from its functions: all on the same
 * two cores, the floor measured in the same topology by the same clients. Sequential CPU per write is
 * then the three processes' together; throughput's is given per process.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from '../test/helpers/databases.js';
import { BENCH_USER, EchoClient } from './client.js';
import { startEmulatorsApart } from './replica-host.js';
import { closedLoop, makeOps, sequential, startLoadApart, type ApartLoad, type LoadTarget, type LoopResult, type ModeName, type Ops } from './small-load.js';

process.env.ECHOFS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

interface Options {
  modes: ModeName[];
  writes: number;
  block: number;
  size: number;
  clients: number;
  seconds: number;
  databaseUrl: string | undefined;
  apart: 'yes' | 'no' | 'only';
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { modes: ['strong', 'available'], writes: 200, block: 20, size: 16 * 1024, clients: 16, seconds: 10, databaseUrl: process.env.BENCH_DATABASE_URL || undefined, apart: 'yes' };
  const num = (name: string, v: string | undefined, min = 1): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min} (got '${v ?? ''}')`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const v = () => argv[++i];
    switch (a) {
      case '--modes': {
        const modes = (v() ?? '').split(',').map((s) => s.trim());
        for (const m of modes) if (m !== 'strong' && m !== 'available') throw new Error(`--modes takes strong and/or available (got '${m}')`);
        o.modes = modes as ModeName[];
        break;
      }
      case '--writes': o.writes = num(a, v()); break;
      case '--block': o.block = num(a, v()); break;
      case '--size': o.size = num(a, v()); break;
      case '--clients': o.clients = num(a, v()); break;
      case '--seconds': o.seconds = num(a, v()); break;
      case '--database-url': o.databaseUrl = v(); break;
      case '--apart': {
        const x = v();
        if (x !== 'yes' && x !== 'no' && x !== 'only') throw new Error(`--apart takes yes, no or only (got '${x ?? ''}')`);
        o.apart = x;
        break;
      }
      default: throw new Error(`unknown option ${a} (see the comment at the top of bench/small.ts)`);
    }
  }
  if (o.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(o.databaseUrl)) throw new Error('--database-url must start with postgres:// or postgresql://');
  return o;
}

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Block {
  latencies: number[];
  cpuMs: number;
  ops: number;
}

/** CPU time (ms) of another process, from /proc (0 where there is none). */
/** CPU time of the given processes together (ms); an empty list or a process gone counts 0. */
async function processesCpuMs(pids: readonly number[]): Promise<number> {
  return (await Promise.all(pids.map((p) => processCpuMs(p)))).reduce((a, b) => a + b, 0);
}

async function processCpuMs(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}
/** USER_HZ: 100 on Linux builds of every architecture Node supports. */
const CLOCK_TICKS = 100;

interface Throughput extends LoopResult {
  /** CPU (ms) over the window: this process, the emulators' own and the clients' own (0 when they run here). */
  cpuMs: number;
  replicaCpuMs: number;
  loadCpuMs: number;
}

interface ModeResult {
  mode: ModeName;
  /** Where the emulators and the clients ran: in this process, or each in a process of their own. */
  apart: boolean;
  floor: Block;
  echo: Block;
  floorTput: Throughput;
  echoTput: Throughput;
}

async function runMode(mode: ModeName, o: Options, apart: boolean): Promise<ModeResult> {
  const { startSystem } = await import('#local/system.js');
  const dataDir = await mkdtemp(join(tmpdir(), 'echofs-bench-small-'));
  const db = o.databaseUrl ? await createTestDatabase(o.databaseUrl, `echofs_bench_small_${process.pid}_${mode}${apart ? '_apart' : ''}`) : undefined;
  let replicaPids: number[] = [];
  const system = await startSystem({
    dataDir,
    port: 0,
    schedules: false,
    env: { BCRYPT_COST: '4', DATABASE_URL: db?.url ?? '', ECHOFS_ADMIN_EMAILS: BENCH_USER.email },
    ...(apart
      ? {
          startEmulators: async (eo) => {
            const e = await startEmulatorsApart(eo);
            replicaPids = e.pids;
            return e;
          },
        }
      : {}),
  });
  let load: ApartLoad | undefined;
  let ops: Ops | undefined;
  try {
    const echo = new EchoClient(system.url, 30_000);
    await echo.signIn(BENCH_USER.username, BENCH_USER.email, BENCH_USER.password);
    // The local system decides modes with its controller (ECHOFS_MODE applies only without one):
    // the mode under test is fixed by the controller's global override, as the bench's fixed
    // strategies are; without it both modes' rows measured the controller's own choice (strong).
    await echo.setOverride(mode === 'strong' ? 'C' : 'A');
    const target: LoadTarget = {
      url: system.url,
      token: echo.token as string,
      mode,
      size: o.size,
      replicas: system.config.regions.map((region) => ({ region, endpoint: system.config.s3Endpoints[region] as string, bucket: system.config.buckets[region] as string })),
    };
    // The same measurements in either topology: the clients here, or in a process of their own
    // (then this one serves, and only serves).
    let driver: { sequence(op: 'floor' | 'echo', n: number): Promise<LoopResult>; loop(op: 'floor' | 'echo'): Promise<LoopResult> };
    if (apart) {
      const l = (load = await startLoadApart(target));
      driver = { sequence: (op, n) => l.sequence(op, n), loop: (op) => l.run(op, o.clients, o.seconds) };
    } else {
      const here = (ops = makeOps(target));
      driver = { sequence: (op, n) => sequential(here[op], n), loop: (op) => closedLoop(here[op], o.clients, o.seconds) };
    }
    // CPU over a window: this process's, and the emulators' and the clients' own when they run apart.
    const measured = async (run: () => Promise<LoopResult>): Promise<Throughput> => {
      const c0 = cpuMs();
      const [r0, l0] = await Promise.all([processesCpuMs(replicaPids), processCpuMs(load?.pid)]);
      const result = await run();
      const [r1, l1] = await Promise.all([processesCpuMs(replicaPids), processCpuMs(load?.pid)]);
      return { ...result, cpuMs: cpuMs() - c0, replicaCpuMs: r1 - r0, loadCpuMs: l1 - l0 };
    };

    // Warm both paths (connections, JIT, the catalog's first statements).
    await driver.sequence('floor', 20);
    await driver.sequence('echo', 20);
    // Sequential latency in alternating blocks; CPU per write is the whole system's (every process).
    const floor: Block = { latencies: [], cpuMs: 0, ops: 0 };
    const mine: Block = { latencies: [], cpuMs: 0, ops: 0 };
    const block = async (into: Block, op: 'floor' | 'echo', n: number) => {
      const t = await measured(() => driver.sequence(op, n));
      into.latencies.push(...t.latencies);
      into.cpuMs += t.cpuMs + t.replicaCpuMs + t.loadCpuMs;
      into.ops += n;
    };
    for (let done = 0; done < o.writes; done += o.block) {
      const n = Math.min(o.block, o.writes - done);
      await block(floor, 'floor', n);
      await block(mine, 'echo', n);
    }
    const floorTput = await measured(() => driver.loop('floor'));
    const echoTput = await measured(() => driver.loop('echo'));
    return { mode, apart, floor, echo: mine, floorTput, echoTput };
  } finally {
    ops?.close();
    await load?.stop();
    await system.stop();
    await db?.drop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const results: ModeResult[] = [];
  for (const mode of o.modes) {
    if (o.apart !== 'only') results.push(await runMode(mode, o, false));
    if (o.apart !== 'no') results.push(await runMode(mode, o, true));
  }
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
  const catalog = o.databaseUrl ? 'PostgreSQL' : 'PGlite';
  const command = `${o.databaseUrl ? 'BENCH_DATABASE_URL=postgres://… ' : ''}npm run bench:small${process.argv.length > 2 ? ` -- ${process.argv.slice(2).filter((a) => !/^postgres/.test(a)).join(' ')}` : ''}`;
  const where = (r: ModeResult) => (r.apart ? 'each in its own process' : 'in the server process');
  const lines = [
    '',
    `EchoFS bench:small — ${o.size} B single-request uploads, catalog ${catalog}, ${o.writes} sequential writes per mode (fixed by the controller's global override) in blocks of ${o.block}, then ${o.clients} clients for ${o.seconds} s`,
    `floor: three parallel PutObject (strong) or one PutObject (available) through the same fault proxies and S3 client settings`,
    '',
    '| mode | emulators and clients | EchoFS P50 / P95 ms | floor P50 / P95 ms | P50 ÷ floor | CPU ms per write | floor CPU ms per op | CPU ÷ floor |',
    '|------|-----------------------|--------------------:|-------------------:|------------:|-----------------:|--------------------:|------------:|',
    ...results.map((r) => {
      const e50 = pct(r.echo.latencies, 50);
      const f50 = pct(r.floor.latencies, 50);
      const ecpu = r.echo.cpuMs / r.echo.ops;
      const fcpu = r.floor.cpuMs / r.floor.ops;
      return `| ${r.mode} | ${where(r)} | ${f(e50)} / ${f(pct(r.echo.latencies, 95))} | ${f(f50)} / ${f(pct(r.floor.latencies, 95))} | ${f(e50 / f50, 2)} | ${f(ecpu, 2)} | ${f(fcpu, 2)} | ${f(ecpu / fcpu, 2)} |`;
    }),
    '',
    `| mode | emulators and clients | clients | EchoFS writes/s | P50 / P95 ms | failed (by cause) | floor ops/s | writes/s ÷ floor | CPU ms per write: server / emulators / clients |`,
    '|------|-----------------------|--------:|----------------:|-------------:|-------------------|------------:|-----------------:|-----------------------------------------------:|',
    ...results.map((r) => {
      const w = r.echoTput.ops / r.echoTput.seconds;
      const fl = r.floorTput.ops / r.floorTput.seconds;
      const failed = Object.entries(r.echoTput.failures).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
      const per = (ms: number) => f(ms / r.echoTput.ops, 2);
      const cpu = r.apart ? `${per(r.echoTput.cpuMs)} / ${per(r.echoTput.replicaCpuMs)} / ${per(r.echoTput.loadCpuMs)}` : `${per(r.echoTput.cpuMs)} (all in one)`;
      return `| ${r.mode} | ${where(r)} | ${o.clients} | ${f(w)} | ${f(pct(r.echoTput.latencies, 50))} / ${f(pct(r.echoTput.latencies, 95))} | ${failed} | ${f(fl)} | ${f(w / fl, 2)} | ${cpu} |`;
    }),
    '',
    `reproduce: ${command}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:small failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
