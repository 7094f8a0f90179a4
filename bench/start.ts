/**
 * `npm run bench:start`: how long `npm start` takes to be healthy and how much memory it holds
 * once idle, on a first start, after a clean stop (SIGTERM) and after a crash (SIGKILL), with the
 * embedded catalog (PGlite) and, when BENCH_DATABASE_URL names a PostgreSQL server, with it.
 *
 * Each start is `npm start`'s own command (node and the flags of package.json's start script on
 * infra/local/launch.mjs), spawned on a free port and its own data dir; "healthy" is the first
 * /api/v1/health answer whose status is ok (every component answering up). Idle RSS is read from
 * /proc/<pid>/status (Linux) five seconds after healthy, with no request in between. Before the
 * measured runs, one unmeasured start builds the start bundle if a source changed.
 *
 * Options: --runs N (default 3; figures are medians), --idle-ms N (default 5000).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createTestDatabase } from '../test/helpers/databases.js';
import { freePort } from './nemesis.js';

const ROOT = resolve(import.meta.dirname, '..');
/** The node arguments of `npm start` (package.json: `node <flags> infra/local/launch.mjs`). */
const START_ARGS = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(/\s+/).slice(1);

/** The targets the figures are printed beside. */
const TARGETS = { restartHealthyMs: 3000, idleRssMiB: { pglite: 400, postgres: 256 } } as const;

interface Options {
  runs: number;
  idleMs: number;
  databaseUrl: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { runs: 3, idleMs: 5000, databaseUrl: process.env.BENCH_DATABASE_URL || undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const n = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--runs') o.runs = n();
    else if (a === '--idle-ms') o.idleMs = n();
    else throw new Error(`unknown option ${a} (options: --runs N, --idle-ms N)`);
  }
  return o;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) / 1024;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Start {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<unknown>;
}

function start(port: number, dataDir: string, databaseUrl: string | undefined): Start {
  const proc = spawn(process.execPath, START_ARGS, {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      ECHOFS_DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl ?? '',
      ECHOFS_LOG_LEVEL: 'WARN',
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return { proc, output: () => out, exited: once(proc, 'exit') };
}

/** Milliseconds from `since` to the first health answer with status ok. */
async function healthyAfter(s: Start, port: number, since: number, timeoutMs = 120_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (s.proc.exitCode !== null) throw new Error(`npm start exited (${s.proc.exitCode}) before it was healthy:\n${s.output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/health`, { signal: AbortSignal.timeout(10_000) });
      const body = (await res.json()) as { status?: string };
      if (res.status === 200 && body.status === 'ok') return performance.now() - since;
    } catch {
      /* not listening yet */
    }
    await sleep(20);
  }
  throw new Error(`npm start was not healthy within ${timeoutMs} ms:\n${s.output()}`);
}

interface Run {
  firstMs: number;
  firstIdleMiB: number;
  restartMs: number;
  restartIdleMiB: number;
  afterKillMs: number;
}

async function oneRun(o: Options, catalog: 'pglite' | 'postgres'): Promise<Run> {
  const dataDir = await mkdtemp(join(tmpdir(), 'echofs-bench-start-'));
  const db = catalog === 'postgres' ? await createTestDatabase(o.databaseUrl as string, `echofs_bench_start_${Date.now().toString(36)}`) : undefined;
  const port = await freePort();
  let s: Start | undefined;
  try {
    const measure = async (): Promise<{ ms: number; idleMiB: number }> => {
      const t0 = performance.now();
      s = start(port, dataDir, db?.url);
      const ms = await healthyAfter(s, port, t0);
      await sleep(o.idleMs);
      return { ms, idleMiB: rssMiB(s.proc.pid as number) };
    };
    const stop = async (signal: NodeJS.Signals) => {
      s?.proc.kill(signal);
      await s?.exited;
    };
    const first = await measure();
    await stop('SIGTERM');
    const restart = await measure();
    await stop('SIGKILL');
    const t0 = performance.now();
    s = start(port, dataDir, db?.url);
    const afterKillMs = await healthyAfter(s, port, t0);
    await stop('SIGTERM');
    return { firstMs: first.ms, firstIdleMiB: first.idleMiB, restartMs: restart.ms, restartIdleMiB: restart.idleMiB, afterKillMs };
  } finally {
    if (s && s.proc.exitCode === null && s.proc.signalCode === null) {
      s.proc.kill('SIGKILL');
      await s.exited;
    }
    await db?.drop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.platform !== 'linux') throw new Error('bench:start reads RSS from /proc: it runs on Linux');
  // Unmeasured: builds the start bundle if a source changed since the last build.
  {
    const dataDir = await mkdtemp(join(tmpdir(), 'echofs-bench-start-'));
    const port = await freePort();
    const s = start(port, dataDir, undefined);
    try {
      await healthyAfter(s, port, performance.now(), 300_000);
    } finally {
      s.proc.kill('SIGTERM');
      await s.exited;
      await rm(dataDir, { recursive: true, force: true });
    }
  }
  const catalogs: ('pglite' | 'postgres')[] = o.databaseUrl ? ['pglite', 'postgres'] : ['pglite'];
  const lines = [
    `EchoFS bench:start — \`npm start\` (node ${START_ARGS.join(' ')}), ${o.runs} runs per catalog, idle RSS ${o.idleMs} ms after healthy; medians`,
    '',
    '| catalog | first start → healthy | idle RSS after it | restart (SIGTERM) → healthy | idle RSS after it | restart (SIGKILL) → healthy | targets |',
    '|---|---:|---:|---:|---:|---:|---|',
  ];
  const raw: string[] = [];
  for (const catalog of catalogs) {
    const runs: Run[] = [];
    for (let i = 0; i < o.runs; i++) runs.push(await oneRun(o, catalog));
    for (const r of runs) raw.push(`- ${catalog}: ${Object.entries(r).map(([k, v]) => `${k} ${Math.round(v)}`).join(', ')}`);
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const mib = (x: number) => `${x.toFixed(0)} MiB`;
    const pick = (k: keyof Run) => median(runs.map((r) => r[k]));
    lines.push(
      `| ${catalog === 'pglite' ? 'PGlite (embedded)' : 'PostgreSQL'} | ${s(pick('firstMs'))} | ${mib(pick('firstIdleMiB'))} | ${s(pick('restartMs'))} | ${mib(pick('restartIdleMiB'))} | ${s(pick('afterKillMs'))} | ` +
        `healthy ≤ ${TARGETS.restartHealthyMs / 1000} s on an existing data dir; idle RSS ≤ ${TARGETS.idleRssMiB[catalog]} MiB |`,
    );
  }
  lines.push('', 'Each run (ms, MiB):', ...raw, '', `reproduce: ${o.databaseUrl ? 'BENCH_DATABASE_URL=postgres://… ' : ''}npm run bench:start${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:start failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
