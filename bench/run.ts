/**
 * `npm run bench`: the published experiments on the local stack, through the fault proxies, for
 * three strategies side by side (fixed strong, fixed available, adaptive) under two latency
 * profiles. Writes bench/results/latest.md, latest.json and one SVG chart per partition scenario.
 *
 *   npm run bench                       # the full run (under ten minutes on two cores)
 *   npm run bench -- --smoke            # every scenario for about a second (CI); also BENCH_SMOKE=1
 *   npm run bench -- --quick            # geo, delay-1 and isolate-1, short windows: about two minutes
 *   npm run bench -- --profiles geo --strategies strong,adaptive --scenarios isolate-1
 *   npm run bench -- --geo 2,70,180 --fault-ms 20000 --write-rate 20
 *
 * Each (profile, strategy) pair gets a fresh system in a temporary data dir: the fixed strategies
 * start with ECHOFS_MODE and a global override, the adaptive one with no override.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase } from '../test/helpers/databases.js';
import { EchoClient, HttpFailure, readStatus } from './client.js';
import { startBenchSystem, startBenchSystemApart, type BenchSystem, type BenchSystemOptions } from './system-host.js';
import { ReplicaFiles } from './replicas.js';
import { jsonReport, markdown, svgChart, type BenchReport } from './report.js';
import { applyPicture, faultPicture, runScenario, waitForEmptyBacklog, type ScenarioResult, type SystemUnderTest } from './runner.js';
import {
  DEFAULT_TIMINGS,
  DEFAULT_WORKLOAD,
  PROFILES,
  QUICK_SCENARIOS,
  QUICK_TIMINGS,
  SMOKE_TIMINGS,
  STRATEGIES,
  scenarios as allScenarios,
  type LatencyProfile,
  type ScenarioTimings,
  type StrategyName,
  type Workload,
} from './scenarios.js';

export interface BenchOptions {
  smoke: boolean;
  /** Geo profile, delay-1 and isolate-1, short windows; results under bench/results/quick/. */
  quick: boolean;
  profiles: LatencyProfile[];
  strategies: StrategyName[];
  /** Scenario names to run (all when empty). */
  scenarios: string[];
  regions: string[];
  timings: ScenarioTimings;
  workload: Workload;
  probeIntervalMs: number;
  replicaTimeoutMs: number;
  /** Longest wait between scenarios for the backlog to drain and the adaptive mode to settle. */
  settleMs: number;
  /**
   * `strategy`: a fresh system for each (profile, strategy) pair (the default: no state carried
   * from one strategy to the next); `profile`: one system per profile, strategies switched by the
   * global override (faster; the smoke run's default).
   */
  systemPer: 'strategy' | 'profile';
  /**
   * Where the s3rver replicas and dynalite run: `apart`, in a process of their own (as a
   * deployment's S3 and DynamoDB are apart from its functions; the full and quick runs' default),
   * or `here`, in the bench's process (the smoke run's default: one process less to start). The
   * fault proxies stay in the bench's process either way.
   */
  emulators: 'apart' | 'here';
  /**
   * Where the system under test runs: `here`, in the bench's process beside its load generator
   * and checker (the default), or `apart`, in a process of its own (./system-host.ts), as a
   * deployment's functions run apart from their clients.
   */
  system: 'apart' | 'here';
  /**
   * A PostgreSQL server for the catalog (each system gets a fresh database on it, dropped after);
   * unset: the embedded PGlite, which shares the event loop with everything else.
   */
  databaseUrl?: string;
  /**
   * Prepares each system's fresh data dir before the system starts (e.g. seeds an embedded
   * catalog already migrated, as the test suite does); unset: the system initialises it itself.
   */
  prepareDataDir?: (dataDir: string) => Promise<unknown>;
  outDir: string;
  command: string;
  log: (line: string) => void;
}

export interface BenchOutput {
  report: BenchReport;
  files: { markdown: string; json: string; charts: string[] };
}

const HERE = fileURLToPath(new URL('.', import.meta.url));
export const DEFAULT_OUT_DIR = join(HERE, 'results');
const ADMIN = { username: 'bench-admin', email: 'bench-admin@echofs.test', password: 'bench-password-1' };
const STRATEGY_MODE: Record<StrategyName, 'C' | 'A' | undefined> = { strong: 'C', available: 'A', adaptive: undefined };

class UsageError extends Error {}

/** A database URL without its password, for the report. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

function list(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

function num(flag: string, v: string | undefined, min = 0): number {
  const n = Number(v);
  if (v === undefined || !Number.isFinite(n) || n < min) throw new UsageError(`${flag} needs a number ≥ ${min} (got '${v ?? ''}')`);
  return n;
}

/** Options from the command line (and BENCH_SMOKE=1). */
export function parseArgs(argv: readonly string[], env: Record<string, string | undefined> = process.env): BenchOptions {
  const smoke = argv.includes('--smoke') || env.BENCH_SMOKE === '1' || env.BENCH_SMOKE === 'true';
  const quick = argv.includes('--quick');
  if (smoke && quick) throw new UsageError('--quick and --smoke are exclusive');
  // --quick and --smoke are presets: the other options apply on top of them.
  const timings = { ...(smoke ? SMOKE_TIMINGS : quick ? QUICK_TIMINGS : DEFAULT_TIMINGS) };
  const workload = { ...DEFAULT_WORKLOAD, ...(smoke ? { keys: 4 } : {}) };
  const profiles = { lan: { ...PROFILES.lan }, geo: { ...PROFILES.geo } } as Record<string, LatencyProfile>;
  let profileNames = quick ? ['geo'] : ['lan', 'geo'];
  let strategies: StrategyName[] = [...STRATEGIES];
  let scenarioNames: string[] = quick ? [...QUICK_SCENARIOS] : [];
  let regions = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];
  let probeIntervalMs = smoke ? 300 : 1000;
  let replicaTimeoutMs = 3000;
  let settleMs = smoke ? 1000 : quick ? 5_000 : 10_000;
  let systemPer: BenchOptions['systemPer'] = smoke ? 'profile' : 'strategy';
  let emulators: BenchOptions['emulators'] = smoke ? 'here' : 'apart';
  let system: BenchOptions['system'] = 'here';
  // A quick run never replaces the full run's results.
  let outDir = quick ? join(DEFAULT_OUT_DIR, 'quick') : DEFAULT_OUT_DIR;
  let databaseUrl = env.BENCH_DATABASE_URL || undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new UsageError(`${a} needs a value`);
      return x;
    };
    switch (a) {
      case '--smoke': break;
      case '--quick': break;
      case '--profiles': profileNames = list(v()); break;
      case '--strategies': strategies = list(v()) as StrategyName[]; break;
      case '--scenarios': scenarioNames = list(v()); break;
      case '--regions': regions = list(v()); break;
      case '--geo': (profiles.geo as LatencyProfile).latencyMs = list(v()).map((x) => num('--geo', x)); break;
      case '--jitter-ms': (profiles.geo as LatencyProfile).jitterMs = num(a, v()); break;
      case '--steady-ms': timings.steadyMs = num(a, v(), 100); break;
      case '--before-ms': timings.beforeMs = num(a, v()); break;
      case '--fault-ms': timings.faultMs = num(a, v(), 100); break;
      case '--after-ms': timings.afterMs = num(a, v()); break;
      case '--convergence-timeout-ms': timings.convergenceTimeoutMs = num(a, v(), 100); break;
      case '--write-rate': workload.writeRate = num(a, v()); break;
      case '--read-rate': workload.readRate = num(a, v()); break;
      case '--keys': workload.keys = num(a, v(), 1); break;
      case '--min-bytes': workload.minBytes = num(a, v(), 1); break;
      case '--max-bytes': workload.maxBytes = num(a, v(), 1); break;
      case '--max-in-flight': workload.maxInFlight = num(a, v(), 1); break;
      case '--request-timeout-ms': workload.requestTimeoutMs = num(a, v(), 100); break;
      case '--probe-interval-ms': probeIntervalMs = num(a, v(), 100); break;
      case '--replica-timeout-ms': replicaTimeoutMs = num(a, v(), 50); break;
      case '--settle-ms': settleMs = num(a, v()); break;
      case '--system-per': {
        const x = v();
        if (x !== 'strategy' && x !== 'profile') throw new UsageError("--system-per must be 'strategy' or 'profile'");
        systemPer = x;
        break;
      }
      case '--emulators': {
        const x = v();
        if (x !== 'apart' && x !== 'here') throw new UsageError("--emulators must be 'apart' or 'here'");
        emulators = x;
        break;
      }
      case '--system': {
        const x = v();
        if (x !== 'apart' && x !== 'here') throw new UsageError("--system must be 'apart' or 'here'");
        system = x;
        break;
      }
      case '--out': outDir = resolve(v()); break;
      case '--database-url': {
        databaseUrl = v();
        if (!/^postgres(ql)?:\/\//.test(databaseUrl)) throw new UsageError('--database-url must start with postgres:// or postgresql://');
        break;
      }
      default: throw new UsageError(`unknown option ${a}`);
    }
  }
  for (const s of strategies) if (!STRATEGIES.includes(s)) throw new UsageError(`unknown strategy '${s}' (known: ${STRATEGIES.join(', ')})`);
  for (const p of profileNames) if (!profiles[p]) throw new UsageError(`unknown profile '${p}' (known: lan, geo)`);
  const known = allScenarios(workload).map((s) => s.name);
  for (const s of scenarioNames) if (!known.includes(s)) throw new UsageError(`unknown scenario '${s}' (known: ${known.join(', ')})`);
  if (workload.minBytes > workload.maxBytes) throw new UsageError('--min-bytes must not exceed --max-bytes');
  return {
    smoke,
    quick,
    profiles: profileNames.map((p) => profiles[p] as LatencyProfile),
    strategies,
    scenarios: scenarioNames,
    regions,
    timings,
    workload,
    probeIntervalMs,
    replicaTimeoutMs,
    settleMs,
    systemPer,
    emulators,
    system,
    ...(databaseUrl ? { databaseUrl } : {}),
    outDir,
    command: `${env.BENCH_DATABASE_URL && databaseUrl === env.BENCH_DATABASE_URL ? `BENCH_DATABASE_URL=${redact(databaseUrl)} ` : ''}npm run bench${argv.length ? ` -- ${argv.map((a) => (/^postgres/.test(a) ? redact(a) : a)).join(' ')}` : ''}`,
    log: (line) => process.stdout.write(`${line}\n`),
  };
}

async function startFor(opts: BenchOptions, strategy: StrategyName | undefined, dataDir: string, databaseUrl: string | undefined): Promise<BenchSystem> {
  // Quiet logs and no EMF lines on stdout while measuring (set before the system's modules load).
  process.env.ECHOFS_LOG_LEVEL ??= 'ERROR';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const mode = strategy ? STRATEGY_MODE[strategy] : undefined;
  const o: BenchSystemOptions = {
    port: 0,
    emulatorsApart: opts.emulators === 'apart',
    dataDir,
    regions: opts.regions,
    env: {
      ECHOFS_ADMIN_EMAILS: ADMIN.email,
      BCRYPT_COST: '4',
      ECHOFS_PROBE_INTERVAL_MS: String(opts.probeIntervalMs),
      ECHOFS_PROBE_TIMEOUT_MS: String(Math.max(50, Math.min(opts.replicaTimeoutMs, opts.probeIntervalMs))),
      ECHOFS_REPLICA_TIMEOUT_MS: String(opts.replicaTimeoutMs),
      ECHOFS_MODE_CACHE_MS: String(Math.min(1000, opts.probeIntervalMs)),
      ...(mode ? { ECHOFS_MODE: mode === 'C' ? 'strong' : 'available' } : {}),
      // The embedded catalog unless a server was given: never a DATABASE_URL the shell happens to hold.
      DATABASE_URL: databaseUrl ?? '',
    },
  };
  return opts.system === 'apart' ? startBenchSystemApart(o) : startBenchSystem(o);
}

/** Fix the strategy through the controller's global override (admin); false if there is no controller. */
async function applyStrategy(client: EchoClient, strategy: StrategyName): Promise<boolean> {
  const mode = STRATEGY_MODE[strategy];
  try {
    if (mode) await client.setOverride(mode);
    else await client.clearOverride();
    return true;
  } catch (err) {
    if (err instanceof HttpFailure && (err.status === 404 || err.status === 405)) return false;
    throw err;
  }
}

/** Between scenarios: faults back to the profile, backlog drained, the adaptive mode back at C. */
async function settle(client: EchoClient, sut: SystemUnderTest, profile: LatencyProfile, strategy: StrategyName, opts: BenchOptions): Promise<void> {
  await applyPicture(sut, faultPicture(profile, sut.regions, {}));
  const started = performance.now();
  await waitForEmptyBacklog(client, started, opts.settleMs);
  if (strategy !== 'adaptive') return;
  while (performance.now() - started < opts.settleMs) {
    try {
      const s = readStatus(await client.status());
      if (s.mode === undefined || s.mode === 'C') return;
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  opts.log(`    (adaptive mode had not returned to C after ${opts.settleMs} ms)`);
}

export async function runBench(opts: BenchOptions): Promise<BenchOutput> {
  const startedAt = new Date().toISOString();
  const results: ScenarioResult[] = [];
  const errors: BenchReport['errors'] = [];
  const chosen = allScenarios(opts.workload).filter((s) => opts.scenarios.length === 0 || opts.scenarios.includes(s.name));
  const runId = Date.now().toString(36);

  const runStrategy = async (sys: BenchSystem, profile: LatencyProfile, strategy: StrategyName): Promise<void> => {
    const client = new EchoClient(sys.url, opts.workload.requestTimeoutMs);
    await client.signIn(ADMIN.username, ADMIN.email, ADMIN.password);
    if (!(await applyStrategy(client, strategy))) opts.log('    no controller API: the strategy is ECHOFS_MODE only');
    const sut: SystemUnderTest = {
      url: sys.url,
      regions: sys.regions,
      setFault: (region, s) => sys.setFault(region, s),
      replicaFiles: new ReplicaFiles(sys.replicaDirs),
    };
    for (const scenario of chosen) {
      await settle(client, sut, profile, strategy, opts);
      opts.log(`  - ${scenario.name}: ${scenario.title}`);
      try {
        const r = await runScenario({ client, sut, profile, strategy, scenario, timings: opts.timings, workload: opts.workload, runId, log: opts.log });
        results.push(r);
        opts.log(
          `    writes ${r.availability.writes.ok}/${r.availability.writes.attempted} P50 ${r.write.all.p50?.toFixed(0) ?? '–'} ms, reads ${r.availability.reads.ok}/${r.availability.reads.attempted}, ` +
            `stale ${r.checker.staleReads}, lost ${r.checker.lostWrites}, convergence ${r.convergenceMs === null ? '–' : `${r.convergenceMs.toFixed(0)} ms`}`,
        );
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        errors.push({ profile: profile.name, strategy, scenario: scenario.name, message });
        opts.log(`    failed: ${message}`);
      }
    }
  };

  let systems = 0;
  /** Start a system, run the given strategies on it, stop it; a start failure is recorded per strategy. */
  const withSystem = async (profile: LatencyProfile, strategies: StrategyName[]): Promise<void> => {
    const dataDir = await mkdtemp(join(tmpdir(), 'echofs-bench-'));
    let system: BenchSystem | undefined;
    let current: StrategyName | undefined;
    let db: { url: string; drop: () => Promise<void> } | undefined;
    try {
      if (opts.databaseUrl) db = await createTestDatabase(opts.databaseUrl, `echofs_bench_${runId}_${++systems}`);
      else await opts.prepareDataDir?.(dataDir);
      system = await startFor(opts, strategies.length === 1 ? strategies[0] : undefined, dataDir, db?.url);
      for (const strategy of strategies) {
        current = strategy;
        opts.log(`== profile ${profile.name}, strategy ${strategy}`);
        await runStrategy(system, profile, strategy);
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const failed = current ? strategies.slice(strategies.indexOf(current)) : strategies;
      for (const strategy of failed) errors.push({ profile: profile.name, strategy, scenario: '*', message });
      opts.log(`  failed: ${message}`);
    } finally {
      await system?.stop().catch(() => undefined);
      await db?.drop().catch(() => undefined);
      await rm(dataDir, { recursive: true, force: true }).catch(() => undefined);
    }
  };

  for (const profile of opts.profiles) {
    if (opts.systemPer === 'profile') await withSystem(profile, opts.strategies);
    else for (const strategy of opts.strategies) await withSystem(profile, [strategy]);
  }

  const report: BenchReport = {
    meta: {
      startedAt,
      finishedAt: new Date().toISOString(),
      command: opts.command,
      smoke: opts.smoke,
      quick: opts.quick,
      node: process.version,
      cpus: cpus().length,
      regions: opts.regions,
      profiles: Object.fromEntries(opts.profiles.map((p) => [p.name, p.latencyMs])),
      timings: { ...opts.timings },
      workload: { ...opts.workload },
      probeIntervalMs: opts.probeIntervalMs,
      replicaTimeoutMs: opts.replicaTimeoutMs,
      catalog: opts.databaseUrl ? 'postgres' : 'pglite',
      emulators: opts.emulators,
      system: opts.system,
    },
    results,
    errors,
  };

  await mkdir(opts.outDir, { recursive: true });
  const charts: string[] = [];
  for (const profile of opts.profiles) {
    for (const scenario of chosen.filter((s) => s.partition)) {
      const rs = results.filter((r) => r.profile === profile.name && r.scenario === scenario.name);
      if (rs.length === 0) continue;
      const name = `${profile.name}-${scenario.name}.svg`;
      await writeFile(join(opts.outDir, name), svgChart(rs, `${scenario.title} — profile ${profile.name}: latency (log) and mode over time`));
      charts.push(name);
    }
  }
  // A run in which nothing completed keeps the previous results and says why beside them.
  const base = results.length > 0 ? 'latest' : 'failed';
  const md = join(opts.outDir, `${base}.md`);
  const json = join(opts.outDir, `${base}.json`);
  await writeFile(md, markdown(report, charts));
  await writeFile(json, `${JSON.stringify(jsonReport(report), null, 2)}\n`);
  return { report, files: { markdown: md, json, charts: charts.map((c) => join(opts.outDir, c)) } };
}

async function main(): Promise<void> {
  let opts: BenchOptions;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`bench: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const out = await runBench(opts);
  const text = await import('node:fs/promises').then((fs) => fs.readFile(out.files.markdown, 'utf8'));
  process.stdout.write(`\n${text}\n`);
  process.stdout.write(`Wrote ${out.files.markdown}, ${out.files.json}${out.files.charts.length ? ` and ${out.files.charts.length} chart(s)` : ''}.\n`);
  const lost = out.report.results.reduce((n, r) => n + r.checker.lostWrites, 0);
  if (lost > 0 || out.report.errors.length > 0) process.exitCode = 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
