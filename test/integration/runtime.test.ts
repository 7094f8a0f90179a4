/**
 * The local runtime end to end over HTTP: the adapter in front of the real handlers, emulators
 * and catalog; restarts on the same data dir; two instances side by side; the fault proxies; and
 * `npm start`'s launcher as a real process (URL printed, clean exit on SIGTERM, no orphans, a
 * SIGKILL survived with nothing lost).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { and, eq } from 'drizzle-orm';
import { createS3Client } from '#shared/clients.js';
import { chunkPlacements, chunks } from '#shared/catalog/schema.js';
import { startSystem, DataDirInUseError } from '#local/system.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { createMigratedDatabase } from '../helpers/databases.js';
import { runnerFor } from '#shared/storage/replication-runner.js';
import { seedCatalog } from '../helpers/catalog-template.js';
import { scaled } from '../helpers/load.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = resolve(import.meta.dirname, '../..');
// A spawned launcher builds its bundle (when a source changed) and starts the whole stack: a few
// seconds idle, a minute or more on a loaded 2-core machine. Waits are for conditions (a line printed, an exit); these are only
// the bounds, scaled to the load so a busy machine is not mistaken for a hang.
const SPAWN_MS = scaled(90_000);
const SPAWN_TEST_MS = SPAWN_MS + scaled(30_000);

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});

afterAll(async () => {
  await stack?.stop();
});

describe('local runtime: API over HTTP', () => {
  it('GET /api/v1/health answers 200 with the catalog, every replica and the controller store', async () => {
    const r = await stack.fetchJson('/api/v1/health');
    expect(r.status).toBe(200);
    expect(r.body.catalog).toMatchObject({ ok: true });
    expect(Object.keys(r.body.replicas).sort()).toEqual([...stack.system.config.regions].sort());
    for (const region of stack.system.config.regions) expect(r.body.replicas[region], region).toMatchObject({ ok: true });
    expect(r.body.controller).toMatchObject({ ok: true });
  });

  it('register, login and me round trip through the adapter', async () => {
    const u = await stack.register();
    expect(u.user).toMatchObject({ email: u.email, username: u.username, role: 'user' });
    const login = await stack.fetchJson('/api/v1/auth/login', { body: { email: u.email.toUpperCase(), password: u.password } });
    expect(login.status).toBe(200);
    expect(login.body.user.id).toBe(u.user.id);
    const me = await stack.fetchJson('/api/v1/auth/me', { token: login.body.token });
    expect(me.status).toBe(200);
    expect(me.body).toEqual({ success: true, user: u.user });
    expect(me.headers.get('x-request-id')).toBeTruthy();
  });

  it('answers an unknown API route with 404 and a known path with the wrong method with 405', async () => {
    const missing = await stack.fetchJson('/api/v1/does-not-exist');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ success: false, error: { code: 'not_found' } });
    const wrong = await stack.fetchJson('/api/v1/auth/register', { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.body).toMatchObject({ success: false, error: { code: 'method_not_allowed' } });
  });

  it('serves the web app or, when it is not built, a page saying so', async () => {
    const res = await fetch(`${stack.url}/some/client/route`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const html = await res.text();
    if (!existsSync(join(ROOT, 'web/dist/index.html'))) expect(html).toMatch(/not built/);
  });
});

describe('local runtime: fault injection API', () => {
  it('is admin only: 401 without a token, 403 for a user', async () => {
    expect((await stack.fetchJson('/api/v1/local/faults')).status).toBe(401);
    const user = await stack.register();
    expect((await stack.fetchJson('/api/v1/local/faults', { token: user.token })).status).toBe(403);
  });

  it('lists every region up by default, sets a fault, and rejects an unknown region or state with 400', async () => {
    const admin = await stack.registerAdmin();
    expect(admin.user.role).toBe('admin');
    const list = await stack.fetchJson('/api/v1/local/faults', { token: admin.token });
    expect(list.status).toBe(200);
    expect(Object.keys(list.body.faults)).toEqual(stack.system.config.regions);
    for (const f of Object.values(list.body.faults)) expect(f).toEqual({ state: 'up', latency_ms: 0, jitter_ms: 0, loss: 0 });

    const set = await stack.fetchJson('/api/v1/local/faults', { token: admin.token, body: { region: 'eu-west-1', state: 'up', latency_ms: 20, jitter_ms: 5, loss: 0.1 } });
    expect(set.status).toBe(200);
    expect(set.body.fault).toEqual({ state: 'up', latency_ms: 20, jitter_ms: 5, loss: 0.1 });
    expect(stack.system.faults.get('eu-west-1')).toEqual({ state: 'up', latency_ms: 20, jitter_ms: 5, loss: 0.1 });

    const unknown = await stack.fetchJson('/api/v1/local/faults', { token: admin.token, body: { region: 'mars-north-1', state: 'up' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.field).toBe('region');
    const badState = await stack.fetchJson('/api/v1/local/faults', { token: admin.token, body: { region: 'eu-west-1', state: 'down' } });
    expect(badState.status).toBe(400);
    expect(badState.body.error.field).toBe('state');
    const badLoss = await stack.fetchJson('/api/v1/local/faults', { token: admin.token, body: { region: 'eu-west-1', state: 'up', loss: 2 } });
    expect(badLoss.status).toBe(400);

    const reset = await stack.fetchJson('/api/v1/local/faults', { token: admin.token, body: { region: 'eu-west-1', state: 'up' } });
    expect(reset.body.fault).toEqual({ state: 'up', latency_ms: 0, jitter_ms: 0, loss: 0 });
  });

  it('the proxy really fronts the replica: S3 calls through it fail while refused and succeed again when up', async () => {
    const admin = await stack.registerAdmin();
    const region = 'ap-southeast-1';
    const s3 = createS3Client({ region, endpoint: stack.system.config.s3Endpoints[region], timeoutMs: 2000 });
    const list = () => s3.send(new ListObjectsV2Command({ Bucket: stack.system.config.buckets[region] }));
    try {
      await expect(list()).resolves.toBeDefined();
      await stack.fetchJson('/api/v1/local/faults', { token: admin.token, body: { region, state: 'refuse' } });
      await expect(list()).rejects.toThrow();
      await stack.fetchJson('/api/v1/local/faults', { token: admin.token, body: { region, state: 'up' } });
      await expect(list()).resolves.toBeDefined();
    } finally {
      s3.destroy();
      stack.system.faults.set(region, { state: 'up' });
    }
  });
});

describe('npm run chaos (infra/local/chaos.ts)', () => {
  const chaos = (args: string[]) =>
    new Promise<{ code: number | null; out: string }>((done) => {
      const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), ['infra/local/chaos.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code) => done({ code, out }));
    });

  it('sets a region fault on a running server (admin login by email and password) and lists them', async () => {
    const admin = await stack.registerAdmin();
    const set = await chaos(['us-east-1', 'blackhole', '--latency', '40', '--loss', '0.25', '--url', stack.url, '--email', admin.email, '--password', admin.password]);
    try {
      expect(set.code, set.out).toBe(0);
      expect(stack.system.faults.get('us-east-1')).toEqual({ state: 'blackhole', latency_ms: 40, jitter_ms: 0, loss: 0.25 });
      const status = await chaos(['status', '--url', stack.url, '--token', admin.token]);
      expect(status.code, status.out).toBe(0);
      expect(status.out).toContain('us-east-1: {"state":"blackhole"');
    } finally {
      stack.system.faults.set('us-east-1', { state: 'up', latency_ms: 0, jitter_ms: 0, loss: 0 });
    }
  }, SPAWN_TEST_MS);

  it('exits 1 with the reason for a bad state or a refused login', async () => {
    const bad = await chaos(['us-east-1', 'sideways', '--url', stack.url, '--token', 'x']);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/state must be up, blackhole or refuse/);
    const denied = await chaos(['us-east-1', 'up', '--url', stack.url, '--token', 'not-a-token']);
    expect(denied.code).toBe(1);
    expect(denied.out).toMatch(/answered 401/);
  }, SPAWN_TEST_MS);
});

describe('local runtime: lifecycle', () => {
  it('keeps users and tokens across a restart on the same data dir, and hands back the replication claims a gone process left', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'echofs-restart-'));
    try {
      const first = await startTestStack({}, { dataDir });
      const u = await first.register();
      // What a SIGKILL during a drain leaves: a backlog row claimed by a worker that no longer runs,
      // its lease a minute ahead.
      const claimed = { ownerId: u.user.id, hash: 'a'.repeat(64), region: first.system.config.regions[0] as string };
      await first.system.services.catalog.db.insert(chunks).values({ ownerId: claimed.ownerId, hash: claimed.hash, size: 1, storedSize: 1, compressed: false });
      await first.system.services.catalog.db
        .insert(chunkPlacements)
        .values({ ...claimed, state: 'pending', pendingSince: new Date(), claimedBy: 'gone-worker', claimedUntil: new Date(Date.now() + 60_000) });
      await first.stop();

      const second = await startTestStack({}, { dataDir });
      try {
        const login = await second.fetchJson('/api/v1/auth/login', { body: { email: u.email, password: u.password } });
        expect(login.status).toBe(200);
        expect(login.body.user.id).toBe(u.user.id);
        const me = await second.fetchJson('/api/v1/auth/me', { token: u.token });
        expect(me.status).toBe(200);
        expect(await readdir(join(dataDir, 's3'))).toEqual(expect.arrayContaining(second.system.config.regions));
        // The embedded catalog is this process's alone: the claim is handed back at start, not after its lease.
        const [row] = await second.system.services.catalog.db
          .select({ claimedBy: chunkPlacements.claimedBy, claimedUntil: chunkPlacements.claimedUntil })
          .from(chunkPlacements)
          .where(and(eq(chunkPlacements.ownerId, claimed.ownerId), eq(chunkPlacements.hash, claimed.hash)));
        expect(row).toEqual({ claimedBy: null, claimedUntil: null });
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it.runIf(Boolean(process.env.DATABASE_URL))(
    'on a PostgreSQL catalog, a restart on the same data dir hands back the claims of its previous process, and only those',
    async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'echofs-restart-pg-'));
      const db = await createMigratedDatabase(process.env.DATABASE_URL as string);
      try {
        const first = await startTestStack({ DATABASE_URL: db.url }, { dataDir });
        const instance = (await readFile(join(dataDir, 'instance-id'), 'utf8')).trim();
        expect(runnerFor(first.system.services).workerId.startsWith(`local:${instance}:`), 'the replicator claims under the data dir\'s id').toBe(true);
        const u = await first.register();
        const catalogDb = first.system.services.catalog.db;
        // What a SIGKILL during a drain leaves: a row claimed by this data dir's process that is
        // gone; beside it, one claimed by another process sharing the catalog, still running.
        const rows = [
          { hash: 'a'.repeat(64), claimedBy: `local:${instance}:4242:deadbeef` },
          { hash: 'b'.repeat(64), claimedBy: 'elsewhere:4243:cafebabe' },
        ];
        for (const r of rows) {
          await catalogDb.insert(chunks).values({ ownerId: u.user.id, hash: r.hash, size: 1, storedSize: 1, compressed: false });
          await catalogDb.insert(chunkPlacements).values({
            ownerId: u.user.id,
            hash: r.hash,
            region: first.system.config.regions[0] as string,
            state: 'pending',
            pendingSince: new Date(),
            claimedBy: r.claimedBy,
            claimedUntil: new Date(Date.now() + 60_000),
          });
        }
        await first.stop();

        const second = await startTestStack({ DATABASE_URL: db.url }, { dataDir });
        try {
          expect((await readFile(join(dataDir, 'instance-id'), 'utf8')).trim(), 'the data dir keeps its id').toBe(instance);
          const claims = await second.system.services.catalog.db
            .select({ hash: chunkPlacements.hash, claimedBy: chunkPlacements.claimedBy })
            .from(chunkPlacements)
            .where(eq(chunkPlacements.ownerId, u.user.id))
            .orderBy(chunkPlacements.hash);
          expect(claims).toEqual([
            { hash: 'a'.repeat(64), claimedBy: null },
            { hash: 'b'.repeat(64), claimedBy: 'elsewhere:4243:cafebabe' },
          ]);
        } finally {
          await second.stop();
        }
      } finally {
        await db.drop();
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  );

  it('after a crash of a version that wrote replica metadata in place (no partial directory), a half-written metadata file is removed and the replica lists again', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'echofs-torn-'));
    try {
      const first = await startTestStack({}, { dataDir });
      const u = await first.register();
      const form = new FormData();
      form.append('name', 'torn.bin');
      form.append('file', new Blob([new Uint8Array(randomBytes(50_000))]), 'torn.bin');
      const up = await fetch(`${first.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${u.token}` } });
      expect(up.status).toBe(201);
      const region = first.system.config.regions[0] as string;
      await first.stop();

      // What a SIGKILL in the middle of an in-place metadata write left, in a data dir last served
      // by a version that wrote so (it had no partial directory beside the replicas): an empty
      // metadata file, and the lock of a process that is gone.
      const bucketDir = join(dataDir, 's3', region);
      const meta = (await readdir(bucketDir, { recursive: true })).find((f) => f.endsWith('._S3rver_metadata.json'));
      expect(meta).toBeDefined();
      await writeFile(join(bucketDir, meta as string), '');
      await rm(join(dataDir, 's3', '.partial'), { recursive: true });
      await writeFile(join(dataDir, 'echofs.lock'), '2147483646');

      const second = await startTestStack({}, { dataDir });
      try {
        expect(existsSync(join(bucketDir, meta as string)), 'the half-written metadata file').toBe(false);
        const s3 = createS3Client({ region, endpoint: second.system.config.s3Endpoints[region], timeoutMs: 5000 });
        try {
          // s3rver reads every object's metadata to list a bucket: a torn file failed the listing.
          const listed = await s3.send(new ListObjectsV2Command({ Bucket: second.system.config.buckets[region] }));
          expect(listed.KeyCount, 'objects listed').toBeGreaterThan(0);
        } finally {
          s3.destroy();
        }
        const health = await second.fetchJson('/api/v1/health');
        expect(health.status).toBe(200);
        expect(health.body.replicas[region]).toMatchObject({ ok: true });
        expect(health.body.status).toBe('ok');
        expect(existsSync(join(dataDir, 's3', '.partial', region)), 'the partial directory, made again').toBe(true);
      } finally {
        await second.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a second system on a data dir that is in use', async () => {
    await expect(startSystem({ dataDir: stack.dataDir, port: 0, env: { DATABASE_URL: '' } })).rejects.toBeInstanceOf(DataDirInUseError);
    // The running system is unharmed.
    expect((await stack.fetchJson('/api/v1/auth/me')).status).toBe(401);
  });

  it('runs a second instance beside the first with its own ports and users', async () => {
    const other = await startTestStack();
    try {
      expect(other.system.port).not.toBe(stack.system.port);
      const ports = (s: TestStack) => [s.system.port, ...Object.values(s.system.replicas).map((r) => r.port), Number(new URL(s.system.dynamoEndpoint).port)];
      const shared = ports(other).filter((p) => ports(stack).includes(p));
      expect(shared).toEqual([]);
      const u = await other.register();
      expect((await other.fetchJson('/api/v1/auth/me', { token: u.token })).status).toBe(200);
      const elsewhere = await stack.fetchJson('/api/v1/auth/login', { body: { email: u.email, password: u.password } });
      expect(elsewhere.status).toBe(401);
    } finally {
      await other.stop();
    }
  });
});

// ---- the real process ----

function descendants(pid: number): number[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const children = new Map<number, number[]>();
  for (const line of out.trim().split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number) as [number, number];
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      found.push(c);
      walk(c);
    }
  };
  walk(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exit: Promise<number | null>;
}

describe('start bundle (infra/local/start-bundle.mjs)', () => {
  /** Runs `fn` of a copy of start-bundle.mjs (its project root is the copy's) in a fresh node process. */
  const inCopy = (copy: string, cacheDir: string, fn: 'ensureBundle' | 'isFresh') =>
    JSON.parse(
      execFileSync(
        process.execPath,
        ['--input-type=module', '-e', `const m = await import(${JSON.stringify(pathToFileURL(join(copy, 'infra/local/start-bundle.mjs')).href)}); console.log(JSON.stringify(await m.${fn}(${JSON.stringify(cacheDir)})));`],
        { encoding: 'utf8' },
      ),
    ) as unknown;

  it('is built once, reused while the sources are unchanged, and rebuilt with an edit', async () => {
    // A copy of the project's sources (node_modules linked), so the edit touches no real file.
    const copy = await mkdtemp(join(tmpdir(), 'echofs-project-'));
    const cacheDir = join(copy, 'bundle-cache');
    try {
      for (const dir of ['infra', 'shared', 'functions']) await cp(join(ROOT, dir), join(copy, dir), { recursive: true });
      for (const file of ['package.json', 'package-lock.json', 'tsconfig.json']) await cp(join(ROOT, file), join(copy, file));
      await symlink(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');

      expect(inCopy(copy, cacheDir, 'isFresh')).toBe(false);
      const first = inCopy(copy, cacheDir, 'ensureBundle') as { path: string; built: boolean };
      expect(first.built).toBe(true);
      expect(await readFile(first.path, 'utf8')).toContain('EchoFS is running at');
      expect(inCopy(copy, cacheDir, 'ensureBundle')).toMatchObject({ built: false });

      const main = join(copy, 'infra/local/main.ts');
      await writeFile(main, (await readFile(main, 'utf8')).replace('EchoFS is running at', 'EchoFS (edited) is running at'));
      expect(inCopy(copy, cacheDir, 'isFresh')).toBe(false);
      const again = inCopy(copy, cacheDir, 'ensureBundle') as { path: string; built: boolean };
      expect(again.built).toBe(true);
      expect(await readFile(again.path, 'utf8')).toContain('EchoFS (edited) is running at');
      expect(inCopy(copy, cacheDir, 'isFresh')).toBe(true);
    } finally {
      await rm(copy, { recursive: true, force: true });
    }
  }, SPAWN_TEST_MS);
});

/** The node arguments of `npm start` (package.json: `node <flags> infra/local/launch.mjs`). */
const START_ARGS = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start.split(/\s+/).slice(1);

/**
 * `npm start`'s own command: the launcher, which runs the start bundle (built first when a source
 * changed). `maxOpenFiles`: run it under that limit of open files (the shell's ulimit -n).
 */
function startMain(env: Record<string, string>, o: { maxOpenFiles?: number } = {}): Started {
  const [command, args] = o.maxOpenFiles
    ? ['/bin/sh', ['-c', `ulimit -n ${o.maxOpenFiles} && exec "$0" "$@"`, process.execPath, ...START_ARGS]]
    : [process.execPath, START_ARGS];
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: '', ECHOFS_LOG_LEVEL: 'WARN', POWERTOOLS_METRICS_DISABLED: 'true', BCRYPT_COST: '4', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, output: () => out, exit };
}

/** Wait until `probe` finds something in the process's output; fail at once if the process exits first. */
async function waitForOutput<T>(what: string, probe: () => T | undefined, started: Started, ms = SPAWN_MS): Promise<T> {
  const found = await waitFor(
    () => {
      const v = probe();
      if (v !== undefined) return { v };
      if (started.child.exitCode !== null) throw new Error(`process exited (${started.child.exitCode}) before ${what}:\n${started.output()}`);
      return undefined;
    },
    what,
    ms,
    100,
  ).catch((err: Error) => {
    throw started.child.exitCode === null ? new Error(`${err.message}:\n${started.output()}`) : err;
  });
  return found.v;
}

/** The base URL the process printed once it was up. */
const urlOf = async (started: Started) =>
  (await waitForOutput('the URL line', () => /running at (http:\/\/localhost:\d+)/.exec(started.output())?.[1], started)).replace('localhost', '127.0.0.1');

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];

/** Add `n` small objects to the replica whose s3rver directory is `dir`, laid out as s3rver stores them (object, MD5, metadata). */
async function fillReplica(dir: string, n: number): Promise<void> {
  const [bucket] = (await readdir(dir)) as [string];
  const body = randomBytes(64);
  const md5 = createHash('md5').update(body).digest('hex');
  for (let from = 0; from < n; from += 100) {
    const folder = join(dir, bucket, 'filler', String(from));
    await mkdir(folder, { recursive: true });
    await Promise.all(
      Array.from({ length: Math.min(100, n - from) }, async (_, i) => {
        const base = join(folder, String(from + i));
        await writeFile(`${base}._S3rver_object`, body);
        await writeFile(`${base}._S3rver_object.md5`, md5);
        await writeFile(`${base}._S3rver_metadata.json`, '{"content-type":"application/octet-stream"}');
      }),
    );
  }
}

const registerAt = (base: string, username: string, email: string) =>
  fetch(`${base}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, email, password: 'a-long-password' }),
  });

describe('npm start (node infra/local/launch.mjs)', () => {
  it('prints its URL, serves requests, and exits 0 on SIGTERM leaving no child processes', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'echofs-main-'));
    const started = startMain({ PORT: '0', ECHOFS_DATA_DIR: dataDir });
    try {
      const base = await urlOf(started);
      const reg = await registerAt(base, 'proc_user', 'proc@echofs.test');
      expect(reg.status).toBe(201);

      const pid = started.child.pid as number;
      const tree = descendants(pid);
      started.child.kill('SIGTERM');
      expect(await started.exit).toBe(0);
      expect(started.output()).toContain('EchoFS stopped.');
      // Helpers of the process, if any (tsx's esbuild service when the sources run through tsx),
      // exit on their own once their parent is gone; then nothing of the tree may be left.
      await waitFor(() => ![pid, ...tree].some(alive), 'the process and its children to exit', scaled(10_000), 100).catch(() => undefined);
      expect([pid, ...tree].filter(alive)).toEqual([]);
      expect(existsSync(join(dataDir, 'echofs.lock'))).toBe(false);
    } finally {
      if (started.child.exitCode === null) started.child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  }, SPAWN_TEST_MS);

  it('after a SIGKILL starts again on the same data dir, healthy with every component up, keeping every acknowledged write, however many objects the replicas hold', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'echofs-kill-'));
    // Starts from the migrated template (the SIGTERM test above covers a start on an empty dir).
    await seedCatalog(dataDir);
    const env = { PORT: '0', ECHOFS_DATA_DIR: dataDir, ECHOFS_REGIONS: REGIONS.join(',') };
    let started = startMain(env);
    try {
      let base = await urlOf(started);
      const reg = await registerAt(base, 'kill_user', 'kill@echofs.test');
      expect(reg.status).toBe(201);
      const { token } = (await reg.json()) as { token: string };
      const content = randomBytes(300_000);
      const form = new FormData();
      form.append('name', 'before-the-kill.bin');
      form.append('file', new Blob([new Uint8Array(content)]), 'before-the-kill.bin');
      const up = await fetch(`${base}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}` } });
      expect(up.status).toBe(201);
      const fileId = ((await up.json()) as { data: { file_id: string } }).data.file_id;

      // No orderly stop: the lock file, the catalog and the emulators' files are left as they were.
      started.child.kill('SIGKILL');
      expect(await started.exit).toBeNull();
      expect(existsSync(join(dataDir, 'echofs.lock'))).toBe(true);

      // Replicas holding more objects than the process may open files (as they would after a
      // while in use), and what a write the kill interrupted leaves: a file in the partial
      // directory beside the replica. The restart runs with at most 256 open files (macOS's
      // default; 1024 on Linux): neither its start nor a health check may open the objects' files.
      const leftover = join(dataDir, 's3', '.partial', REGIONS[0] as string, 'interrupted.tmp');
      await mkdir(join(leftover, '..'), { recursive: true });
      await writeFile(leftover, randomBytes(1000));
      await Promise.all(REGIONS.map((region) => fillReplica(join(dataDir, 's3', region), 600)));

      started = startMain(env, { maxOpenFiles: 256 });
      base = await urlOf(started);
      // Health answers from live checks: every component is up once each one answers.
      const health = await waitFor(
        async () => {
          const res = await fetch(`${base}/api/v1/health`);
          const body = (await res.json()) as { status: string; catalog: { status: string }; controller?: { status: string }; replicas: Record<string, { status: string }> };
          return res.status === 200 && body.status === 'ok' ? body : undefined;
        },
        'the restarted server to report every component up',
        scaled(30_000),
        100,
      );
      expect(health.catalog.status).toBe('up');
      expect(health.controller?.status).toBe('up');
      expect(Object.keys(health.replicas).sort()).toEqual([...REGIONS].sort());
      for (const region of REGIONS) expect(health.replicas[region]?.status, region).toBe('up');
      expect(existsSync(leftover), 'what the interrupted write left in the partial directory').toBe(false);

      // The account, its token and the file acknowledged before the kill are all there.
      const me = await fetch(`${base}/api/v1/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
      expect(me.status).toBe(200);
      const down = await fetch(`${base}/api/v1/files/${fileId}/download`, { headers: { Authorization: `Bearer ${token}` } });
      expect(down.status).toBe(200);
      expect(Buffer.from(await down.arrayBuffer()).equals(content)).toBe(true);

      started.child.kill('SIGTERM');
      expect(await started.exit).toBe(0);
    } finally {
      if (started.child.exitCode === null) started.child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  }, SPAWN_TEST_MS * 2);

  it('exits 1 with one clear message per bad variable', async () => {
    const started = startMain({ PORT: 'abc', BCRYPT_COST: '99', ECHOFS_DATA_DIR: join(tmpdir(), 'echofs-never-created') });
    expect(await started.exit).toBe(1);
    expect(started.output()).toMatch(/PORT must be an integer/);
    expect(started.output()).toMatch(/BCRYPT_COST must be an integer/);
  }, SPAWN_TEST_MS);

  it('exits 1 with a clear message when the port is in use', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as net.AddressInfo).port;
    const dataDir = await mkdtemp(join(tmpdir(), 'echofs-port-'));
    try {
      const started = startMain({ PORT: String(port), ECHOFS_DATA_DIR: dataDir });
      expect(await started.exit).toBe(1);
      expect(started.output()).toContain(`Port ${port} is already in use`);
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
      await rm(dataDir, { recursive: true, force: true });
    }
  }, SPAWN_TEST_MS);
});
