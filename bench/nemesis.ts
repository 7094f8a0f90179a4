/**
 * `npm run nemesis`: a Jepsen-style run against the local stack.
 *
 *   npm run nemesis                                   # seed 1, 60 s, 8 clients, 8 keys
 *   npm run nemesis -- --seed 7 --duration 150 --clients 16 --keys 16 --restarts 3
 *   npm run nemesis -- --json out.json --keep-data
 *   npm run nemesis -- --seed 2471 --actions 11 --step 800 --restarts 1   # a fixed schedule, whatever the machine's speed
 *   NEMESIS_DATABASE_URL=postgres://…/empty_db npm run nemesis       # the catalog on PostgreSQL instead of the embedded one
 *
 * The stack is `npm start` itself, a child process group on its own data dir and port, so the
 * nemesis can SIGKILL it (npm and the server) and start it again on the same data. Clients share
 * one account and a few keys (file names) and, over the public HTTP API, do compare-and-swap
 * writes (If-Match: the version they last saw), blind overwrites, reads (recording the version the
 * server says it returned) and version listings. A nemesis schedule drawn from the seed
 * black-holes, refuses, slows and drops connections to regions (one or a majority), sets and
 * clears global overrides, adds and removes critical keys, and crash-restarts the server with
 * SIGKILL. After the run everything is healed, the backlog is waited for, and every key is read
 * and listed and every acknowledged write is read back by its version. bench/checker.ts judges the
 * history (lost, stale, corrupt, CAS, phantom, order and critical-key violations).
 *
 * Prints the operations, each violation class with examples, and the time from each SIGKILL to the
 * restarted server answering and to it being healthy (GET /api/v1/health 200 with every component
 * up: the catalog, each replica and the controller store). Exits 1 on any
 * violation, 2 when the run itself failed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs as parseCli } from 'node:util';
import { ANOMALY_KINDS, check, History, type CheckResult, type StrongWindow } from './checker.js';
import { EchoClient, readStatus, type Outcome } from './client.js';
import { summarize } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const ADMIN = { username: 'nemesis', email: 'nemesis@echofs.test', password: 'nemesis-password-1' };

export interface NemesisOptions {
  seed: number;
  durationMs: number;
  clients: number;
  keys: number;
  /** SIGKILL crash-restarts, spread over the run. */
  restarts: number;
  regions: string[];
  /** Mean time between nemesis actions. */
  stepMs: number;
  /**
   * Run exactly this many nemesis actions (crash-restarts not counted, placed among them by the
   * seed) instead of acting until durationMs has passed: the same schedule from the same seed
   * however fast the machine is.
   */
  actions?: number;
  /** Keep the data dir (default: removed after a valid run). */
  keepData: boolean;
  dataDir?: string;
  /** Wait at most this long for the backlog to drain after heal. */
  drainTimeoutMs: number;
  /**
   * The server's controller snapshot lease (ECHOFS_MODE_CACHE_MS; default: the server's own, 1 s):
   * each override and critical-key change is answered after it.
   */
  modeCacheMs?: number;
  log: (line: string) => void;
}

export interface RestartTiming {
  /** ms from the SIGKILL to the first HTTP answer of the new process (503 while starting counts). */
  listeningMs: number;
  /** ms from the SIGKILL to GET /api/v1/health answering 200 with every component up (status 'ok'). */
  healthyMs: number;
  /** The server's own account of its start (ms): process boot, then each start-up step. */
  phases?: Record<string, number>;
}

export interface NemesisResult {
  seed: number;
  /** How long the nemesis acted (ms): the requested duration, or the time the given actions took. */
  durationMs: number;
  /** The nemesis actions taken, by kind (blackhole, refuse, slow, loss, majority, heal, override, clear-override, add-critical, remove-critical, restart). */
  kinds: Record<string, number>;
  ops: { writes: number; acked: number; failed: number; unknown: number; cas: number; casRejected: number; reads: number; readsOk: number; lists: number };
  violations: Record<'lost' | 'stale' | 'corrupt' | 'cas' | 'phantom' | 'order' | 'critical', number>;
  check: CheckResult;
  firstStartMs: number;
  restarts: RestartTiming[];
  actions: string[];
  /** Heal -> empty backlog, ms; null when it did not drain in time. */
  drainMs: number | null;
  /** Copies pending at the heal (the first status read after it); null when none answered. */
  backlogAtHeal: number | null;
  dataDir: string;
  valid: boolean;
}

/** mulberry32: a small seeded PRNG, so a seed names one nemesis schedule. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A TCP port free on 127.0.0.1 right now (taken by the caller's server soon after). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** The local stack as a child process: `npm start`'s entry point on a fixed port and data dir. */
class Stack {
  private proc: ChildProcess | undefined;
  private exited: Promise<unknown> | undefined;
  readonly url: string;

  constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly regions: string[],
    private readonly modeCacheMs?: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Start and wait until healthy; times from `since` (default: now). */
  async start(since = performance.now(), timeoutMs = 120_000): Promise<RestartTiming> {
    const env: Record<string, string | undefined> = {
      ...process.env,
      PORT: String(this.port),
      ECHOFS_DATA_DIR: this.dataDir,
      ECHOFS_REGIONS: this.regions.join(','),
      ECHOFS_ADMIN_EMAILS: ADMIN.email,
      BCRYPT_COST: '4',
      ECHOFS_LOG_LEVEL: process.env.ECHOFS_LOG_LEVEL ?? 'INFO',
      POWERTOOLS_METRICS_DISABLED: 'true',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ECHOFS_PROBE_INTERVAL_MS: '1000',
      ECHOFS_PROBE_TIMEOUT_MS: '1000',
      ECHOFS_REPLICA_TIMEOUT_MS: '2000',
      ...(this.modeCacheMs !== undefined ? { ECHOFS_MODE_CACHE_MS: String(this.modeCacheMs) } : {}),
    };
    // The catalog is the embedded one under the data dir (a crash must be survived by it), or, with
    // NEMESIS_DATABASE_URL, that PostgreSQL database: the cloud catalog's engine, where several
    // connections commit at once (it outlives the server; give it an empty database).
    if (process.env.NEMESIS_DATABASE_URL) env.DATABASE_URL = process.env.NEMESIS_DATABASE_URL;
    else delete env.DATABASE_URL;
    const log = await open(join(this.dataDir, 'server.log'), 'a');
    // `npm start` itself, in a process group of its own, so a crash takes npm and the server at once.
    const proc = spawn(NPM, ['start', '--silent'], { cwd: ROOT, env, stdio: ['ignore', log.fd, log.fd], detached: true });
    this.proc = proc;
    this.exited = once(proc, 'exit');
    void this.exited.finally(() => void log.close());
    let listeningMs: number | undefined;
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (proc.exitCode !== null) throw new Error(`the server exited with code ${proc.exitCode} while starting (see ${join(this.dataDir, 'server.log')})`);
      try {
        // A health answer that is slow but comes counts when it comes (probing replicas takes up to 2 s).
        const res = await fetch(`${this.url}/api/v1/health`, { signal: AbortSignal.timeout(10_000) });
        const text = await res.text();
        listeningMs ??= performance.now() - since;
        if (res.status === 200 && healthStatus(text) === 'ok') return { listeningMs, healthyMs: performance.now() - since, ...this.phases() };
      } catch {
        /* not listening yet */
      }
      await sleep(25);
    }
    throw new Error(`the server was not healthy within ${timeoutMs} ms`);
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.proc?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      /* the group is gone */
    }
  }

  /** The start-up step timings of the latest start, from its log line. */
  private phases(): { phases?: Record<string, number> } {
    const lines = readFileSafe(join(this.dataDir, 'server.log')).split('\n').filter((l) => l.includes('"startMs"'));
    try {
      const last = JSON.parse(lines[lines.length - 1] ?? '') as { startMs?: Record<string, number>; bootMs?: number };
      return last.startMs ? { phases: { boot: last.bootMs ?? 0, ...last.startMs } } : {};
    } catch {
      return {};
    }
  }

  /** Whether the server holding the data dir still runs (a zombie left by SIGKILL does not). */
  private serverRunning(): boolean {
    const pid = Number(readFileSafe(join(this.dataDir, 'echofs.lock')));
    return Number.isInteger(pid) && pid > 0 && running(pid);
  }

  /** SIGKILL the whole group (npm and the server), and wait until it is gone. */
  async kill(): Promise<void> {
    if (!this.proc) return;
    this.signal('SIGKILL');
    await this.exited;
    const deadline = performance.now() + 10_000;
    while (this.serverRunning() && performance.now() < deadline) await sleep(10);
  }

  /** SIGTERM (orderly stop), SIGKILL after 20 s. */
  async stop(): Promise<void> {
    if (!this.proc || (this.proc.exitCode !== null && !this.serverRunning())) return;
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), 20_000);
    await this.exited;
    const deadline = performance.now() + 25_000;
    while (this.serverRunning() && performance.now() < deadline) await sleep(50);
    clearTimeout(t);
  }
}

/** The overall status of a health answer ('ok' once every component is up), or undefined if unreadable. */
function healthStatus(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { status?: string }).status;
  } catch {
    return undefined;
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return '';
  }
}

/** A live process (a zombie left by a SIGKILL is not). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = readFileSafe(`/proc/${pid}/stat`);
  return !stat || stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
}

/** A key's short name in the action log (k3 for nemesis-<run>-k3.bin). */
const label = (key: string): string => /-(k\d+)\.bin$/.exec(key)?.[1] ?? key;

interface FaultState {
  state: 'up' | 'blackhole' | 'refuse';
  latency_ms?: number;
  jitter_ms?: number;
  loss?: number;
}

export async function runNemesis(o: NemesisOptions): Promise<NemesisResult> {
  const dataDir = o.dataDir ?? (await mkdtemp(join(tmpdir(), 'echofs-nemesis-')));
  const stack = new Stack(await freePort(), dataDir, o.regions, o.modeCacheMs);
  const actions: string[] = [];
  const t0 = performance.now();
  const note = (s: string) => {
    const line = `[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${s}`;
    actions.push(line);
    o.log(line);
  };

  o.log(`nemesis: seed ${o.seed}, ${o.actions !== undefined ? `${o.actions} actions` : `${o.durationMs / 1000} s`}, ${o.clients} clients, ${o.keys} keys, ${o.restarts} crash-restarts; data in ${dataDir}`);
  try {
    return await run(o, stack, note, actions);
  } finally {
    // Whatever happened, no server is left running.
    await stack.stop().catch(() => stack.kill());
  }
}

async function run(o: NemesisOptions, stack: Stack, note: (s: string) => void, actions: string[]): Promise<NemesisResult> {
  const rand = prng(o.seed);
  const pickOf = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const dataDir = stack.dataDir;
  const history = new History();
  history.quorum = Math.floor(o.regions.length / 2) + 1;
  const restarts: RestartTiming[] = [];
  const first = await stack.start();
  note(`server healthy after ${Math.round(first.healthyMs)} ms (first start)`);
  const admin = new EchoClient(stack.url, 10_000);
  await admin.signIn(ADMIN.username, ADMIN.email, ADMIN.password);

  const runId = `${o.seed}-${Date.now().toString(36)}`;
  const keys = Array.from({ length: o.keys }, (_, i) => `nemesis-${runId}-k${i}.bin`);
  const fileIds = new Map<string, string>();
  /** Per client and key: the version it last saw (for If-Match). */
  const clients = Array.from({ length: o.clients }, () => ({ client: new EchoClient(stack.url, 10_000), seen: new Map<string, number>() }));
  for (const c of clients) c.client.token = admin.token;

  const write = async (c: (typeof clients)[number], key: string, cas: boolean): Promise<Outcome<unknown>> => {
    const content = randomBytes(64 + Math.floor(Math.random() * 2048));
    const ifMatch = cas ? c.seen.get(key) : undefined;
    const id = history.invokeWrite(key, sha256(content), ifMatch);
    const out = await c.client.upload(key, content, ifMatch !== undefined ? { ifMatch } : {});
    if (out.ok) {
      const version = Number(out.value.version);
      history.writeOk(id, out.value.version, { ...(out.mode ? { mode: out.mode } : {}), ...(out.value.acked !== undefined ? { acked: out.value.acked } : {}) });
      fileIds.set(key, out.value.fileId);
      if (Number.isInteger(version)) c.seen.set(key, version);
    } else history.writeFail(id, out.status === 412 ? '412' : out.cause, out.definite);
    return out;
  };
  const read = async (c: (typeof clients)[number] | undefined, key: string): Promise<Outcome<unknown>> => {
    const fileId = fileIds.get(key) as string;
    const id = history.invokeRead(key);
    const out = await (c?.client ?? admin).download(fileId);
    if (out.ok) {
      history.readOk(id, out.value === null ? null : sha256(out.value), out.version);
      if (c && out.version !== undefined) c.seen.set(key, out.version);
    } else history.readFail(id, out.cause);
    return out;
  };
  const list = async (c: (typeof clients)[number] | undefined, key: string): Promise<Outcome<unknown>> => {
    const id = history.invokeList(key);
    const out = await (c?.client ?? admin).listVersions(fileIds.get(key) as string);
    if (out.ok) history.listOk(id, out.value.map((v) => ({ version: v.version, digest: v.sha256 })));
    else history.listFail(id, out.cause);
    return out;
  };

  // Seed every key (healthy), so every later operation knows its file id.
  for (const key of keys) {
    for (let attempt = 0; ; attempt++) {
      const out = await write(clients[0] as (typeof clients)[number], key, false);
      if (out.ok) break;
      if (attempt >= 20) throw new Error(`could not create ${key}: ${out.message}`);
      await sleep(250);
    }
  }

  // ---- workload
  let stop = false;
  const workers = clients.map(async (c, i) => {
    const r = prng(o.seed * 1000 + i + 1);
    while (!stop) {
      const key = keys[Math.floor(r() * keys.length)] as string;
      const p = r();
      const out = p < 0.35 ? await read(c, key) : p < 0.6 ? await write(c, key, true) : p < 0.85 ? await write(c, key, false) : await list(c, key);
      // While the server is down, do not spin on refused connections.
      if (!out.ok && (out.cause === 'network' || out.status === 503)) await sleep(50 + r() * 100);
    }
  });

  // ---- nemesis
  const faults = new Map<string, FaultState>(o.regions.map((r) => [r, { state: 'up' }]));
  const applyFaults = async () => {
    for (const [region, f] of faults) await admin.setFault({ region, ...f });
  };
  const critical = new Map<string, StrongWindow>();
  let override: { mode: 'C' | 'H' | 'A'; window?: StrongWindow } | undefined;
  // When each crash-restart comes: a time into the run, or (with o.actions) a number of actions done.
  const span = o.actions ?? o.durationMs;
  const restartAt = Array.from({ length: o.restarts }, (_, i) => ((i + 0.5 + (rand() - 0.5) * 0.5) * span) / Math.max(1, o.restarts));
  let nextRestart = 0;
  let done = 0;
  const kinds: Record<string, number> = {};
  const did = (kind: string) => {
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  };
  const adminCall = async (what: string, fn: () => Promise<void>): Promise<boolean> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await fn();
        return true;
      } catch (err) {
        if (attempt === 2) note(`${what} failed: ${(err as Error).message}`);
        else await sleep(200);
      }
    }
    return false;
  };

  const runStart = performance.now();
  const more = () => (o.actions !== undefined ? done < o.actions || nextRestart < restartAt.length : performance.now() - runStart < o.durationMs);
  while (more()) {
    await sleep(o.stepMs * (0.5 + rand()));
    const elapsed = performance.now() - runStart;
    if (o.actions === undefined && elapsed >= o.durationMs) break;
    if (nextRestart < restartAt.length && (o.actions !== undefined ? done : elapsed) >= (restartAt[nextRestart] as number)) {
      nextRestart++;
      did('restart');
      const killed = performance.now();
      await stack.kill();
      note('SIGKILL server');
      const t = await stack.start(killed);
      restarts.push(t);
      note(`restarted: answering after ${Math.round(t.listeningMs)} ms, healthy after ${Math.round(t.healthyMs)} ms`);
      // The fault proxies live in the server process: put the current faults back.
      await adminCall('re-applying faults', applyFaults);
      continue;
    }
    const a = rand();
    const region = pickOf(o.regions);
    done++;
    if (a < 0.45) {
      const kind = pickOf(['blackhole', 'refuse', 'slow', 'loss', 'majority'] as const);
      did(kind);
      if (kind === 'majority') {
        const shuffled = [...o.regions].sort(() => rand() - 0.5);
        const state = rand() < 0.5 ? 'blackhole' : 'refuse';
        for (const r of shuffled.slice(0, Math.floor(o.regions.length / 2) + 1)) faults.set(r, { state });
        note(`${state} a majority: ${shuffled.slice(0, Math.floor(o.regions.length / 2) + 1).join(', ')}`);
      } else if (kind === 'slow') {
        const latency = 100 + Math.floor(rand() * 700);
        faults.set(region, { state: 'up', latency_ms: latency, jitter_ms: Math.floor(latency / 4) });
        note(`slow ${region} by ${latency} ms`);
      } else if (kind === 'loss') {
        const loss = Math.round((0.1 + rand() * 0.4) * 100) / 100;
        faults.set(region, { state: 'up', loss });
        note(`drop ${loss * 100}% of connections to ${region}`);
      } else {
        faults.set(region, { state: kind });
        note(`${kind} ${region}`);
      }
      await adminCall('setting faults', applyFaults);
    } else if (a < 0.65) {
      did('heal');
      for (const r of o.regions) faults.set(r, { state: 'up' });
      note('heal all regions');
      await adminCall('healing', applyFaults);
    } else if (a < 0.82) {
      if (override && rand() < 0.4) {
        if (override.window) history.strongUntil(override.window);
        override = undefined;
        did('clear-override');
        note('clear the global override');
        await adminCall('clearing the override', () => admin.clearOverride());
      } else {
        const mode = pickOf(['C', 'H', 'A'] as const);
        did('override');
        if (override?.window) history.strongUntil(override.window);
        override = { mode };
        note(`global override ${mode}`);
        if ((await adminCall('setting the override', () => admin.setOverride(mode))) && mode === 'C') override.window = history.strongFrom('*', 'strong override');
      }
    } else {
      const key = pickOf(keys);
      const w = critical.get(key);
      if (w) {
        history.strongUntil(w);
        critical.delete(key);
        did('remove-critical');
        note(`remove critical key ${label(key)}`);
        await adminCall('removing a critical key', () => admin.removeCriticalKey(key));
      } else {
        did('add-critical');
        note(`add critical key ${label(key)}`);
        if (await adminCall('adding a critical key', () => admin.addCriticalKey(key))) critical.set(key, history.strongFrom(key, 'critical key'));
      }
    }
  }
  stop = true;
  await Promise.all(workers);
  const ranMs = performance.now() - runStart;

  // ---- heal and verify
  note('heal: faults off, override cleared, critical keys removed');
  for (const r of o.regions) faults.set(r, { state: 'up' });
  await adminCall('healing', applyFaults);
  if (override?.window) history.strongUntil(override.window);
  await adminCall('clearing the override', () => admin.clearOverride());
  for (const [key, w] of critical) {
    history.strongUntil(w);
    await adminCall('removing a critical key', () => admin.removeCriticalKey(key));
  }
  const healed = performance.now();
  let drainMs: number | null = null;
  let backlogAtHeal: number | null = null;
  while (performance.now() - healed < o.drainTimeoutMs) {
    try {
      const s = readStatus(await admin.status());
      if (s.backlog !== undefined) backlogAtHeal ??= s.backlog;
      if (s.backlog === 0) {
        drainMs = performance.now() - healed;
        break;
      }
    } catch {
      /* keep polling */
    }
    await sleep(250);
  }
  note(drainMs === null ? `backlog not empty after ${o.drainTimeoutMs} ms` : `backlog empty ${Math.round(drainMs)} ms after heal (${backlogAtHeal ?? '?'} copies pending at the heal)`);

  for (const key of keys) {
    await read(undefined, key);
    await list(undefined, key);
  }
  const acked = history.acknowledged();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < acked.length) {
        const w = acked[next++] as (typeof acked)[number];
        let out: Awaited<ReturnType<EchoClient['download']>> | undefined;
        for (let attempt = 0; attempt < 5; attempt++) {
          out = await admin.download(fileIds.get(w.key) as string, w.ref);
          if (out.ok) break;
          await sleep(200 * (attempt + 1));
        }
        if (out?.ok) history.verify(w.id, out.value === null ? null : sha256(out.value), out.value === null ? '404' : undefined);
        else history.verify(w.id, null, out && !out.ok ? out.message : 'no answer');
      }
    }),
  );
  note(`verified ${acked.length} acknowledged writes`);
  await stack.stop();

  const result = check(history.data(), { maxExamples: 5 });
  const c = result.counts;
  const casRejected = history.data().ops.filter((op) => op.type === 'write' && op.cause === '412').length;
  const violations = {
    lost: c.lostWrites,
    stale: c.staleReads,
    corrupt: c.corruptReads + c.corruptVerifications,
    cas: c.casViolations,
    phantom: c.phantomReads,
    order: c.orderViolations,
    critical: c.criticalViolations,
  };
  const out: NemesisResult = {
    seed: o.seed,
    durationMs: o.actions !== undefined ? Math.round(ranMs) : o.durationMs,
    kinds,
    ops: { writes: c.writes, acked: c.writesAcked, failed: c.writesFailed, unknown: c.writesIndeterminate, cas: c.casWrites, casRejected, reads: c.reads, readsOk: c.readsOk, lists: c.lists },
    violations,
    check: result,
    firstStartMs: first.healthyMs,
    restarts,
    actions,
    drainMs,
    backlogAtHeal,
    dataDir,
    valid: result.valid,
  };
  if (result.valid && !o.keepData && !o.dataDir) await rm(dataDir, { recursive: true, force: true });
  return out;
}

/** " (N copies pending at the heal, R copies/s)": what the drain time drained, and at what rate. */
function pendingAtHeal(r: NemesisResult): string {
  if (r.backlogAtHeal === null) return '';
  const rate = r.drainMs && r.backlogAtHeal ? `, ${Math.round((r.backlogAtHeal * 1000) / r.drainMs)} copies/s` : '';
  return ` (${r.backlogAtHeal} copies pending at the heal${rate})`;
}

/** The summary printed at the end of a run. */
export function formatResult(r: NemesisResult): string {
  const ms = (v: number | null) => (v === null ? '–' : `${(v / 1000).toFixed(2)} s`);
  const healthy = summarize(r.restarts.map((t) => t.healthyMs));
  const lines = [
    `seed ${r.seed}: ${r.valid ? 'VALID' : 'VIOLATIONS FOUND'}`,
    `ops: ${r.ops.writes} writes (${r.ops.acked} acknowledged, ${r.ops.failed} failed, ${r.ops.unknown} unknown; ${r.ops.cas} CAS, ${r.ops.casRejected} rejected with 412), ${r.ops.reads} reads (${r.ops.readsOk} ok), ${r.ops.lists} version listings`,
    `nemesis actions: ${Object.entries(r.kinds).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
    `violations: ${Object.entries(r.violations).map(([k, v]) => `${k} ${v}`).join(', ')}`,
    `verified ${r.check.counts.verified} of ${r.ops.acked} acknowledged writes by version; backlog drained ${ms(r.drainMs)} after heal${pendingAtHeal(r)}`,
    `first start: healthy after ${ms(r.firstStartMs)}`,
    `restart after SIGKILL (kill -> healthy): ${r.restarts.map((t) => ms(t.healthyMs)).join(', ') || 'none'}` +
      (r.restarts.length ? ` (min ${ms(healthy.n ? Math.min(...r.restarts.map((t) => t.healthyMs)) : null)}, median ${ms(healthy.p50)}, max ${ms(healthy.max)}; answering after ${r.restarts.map((t) => ms(t.listeningMs)).join(', ')})` : ''),
  ];
  r.restarts.forEach((t, i) => {
    if (t.phases) lines.push(`  restart ${i + 1} start-up steps (ms): ${Object.entries(t.phases).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  });
  for (const e of r.check.examples) lines.push(`  ${e.kind}: ${e.message}`);
  if (!r.valid) lines.push(`data dir kept for inspection: ${r.dataDir} (server.log there)`);
  return lines.join('\n');
}

class UsageError extends Error {}

export function parseArgs(argv: string[]): Omit<NemesisOptions, 'log'> & { json?: string } {
  const { values } = parseCli({
    args: argv,
    options: {
      seed: { type: 'string' },
      duration: { type: 'string' },
      clients: { type: 'string' },
      keys: { type: 'string' },
      restarts: { type: 'string' },
      regions: { type: 'string' },
      step: { type: 'string' },
      actions: { type: 'string' },
      'mode-cache-ms': { type: 'string' },
      'data-dir': { type: 'string' },
      'keep-data': { type: 'boolean' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) throw new UsageError('');
  const int = (name: string, v: string | undefined, dflt: number, min: number, max: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max} (got '${v}')`);
    return n;
  };
  const durationMs = int('duration', values.duration, 60, 5, 3600) * 1000;
  const regions = (values.regions ?? 'us-east-1,eu-west-1,ap-southeast-1').split(',').map((s) => s.trim()).filter(Boolean);
  if (regions.length < 3) throw new UsageError('--regions needs at least 3 regions');
  return {
    seed: int('seed', values.seed, 1, 0, 2 ** 31),
    durationMs,
    clients: int('clients', values.clients, 8, 1, 64),
    keys: int('keys', values.keys, 8, 1, 256),
    restarts: int('restarts', values.restarts, Math.max(1, Math.round(durationMs / 40_000)), 0, 100),
    regions,
    stepMs: int('step', values.step, 2500, 100, 60_000),
    ...(values.actions !== undefined ? { actions: int('actions', values.actions, 0, 0, 10_000) } : {}),
    ...(values['mode-cache-ms'] !== undefined ? { modeCacheMs: int('mode-cache-ms', values['mode-cache-ms'], 0, 0, 600_000) } : {}),
    keepData: values['keep-data'] ?? false,
    drainTimeoutMs: 90_000,
    ...(values['data-dir'] ? { dataDir: values['data-dir'] } : {}),
    ...(values.json ? { json: values.json } : {}),
  };
}

const USAGE = `usage: npm run nemesis -- [--seed N] [--duration s] [--clients N] [--keys N] [--restarts N]
                         [--regions a,b,c] [--step ms] [--actions N] [--mode-cache-ms ms] [--data-dir DIR] [--keep-data] [--json FILE]`;

async function main(): Promise<void> {
  let opts: ReturnType<typeof parseArgs>;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      if (err.message) process.stderr.write(`nemesis: ${err.message}\n`);
      process.stderr.write(`${USAGE}\n`);
      process.exitCode = err.message ? 2 : 0;
      return;
    }
    throw err;
  }
  const r = await runNemesis({ ...opts, log: (l) => process.stdout.write(`${l}\n`) });
  process.stdout.write(`\n${formatResult(r)}\n`);
  if (opts.json) await writeFile(opts.json, JSON.stringify({ ...r, check: { ...r.check, kinds: ANOMALY_KINDS } }, null, 2));
  process.exitCode = r.valid ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err: unknown) => {
    process.stderr.write(`nemesis: the run failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 2;
  });
}
