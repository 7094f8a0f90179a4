/**
 * The local EchoFS stack for integration tests: the whole system in-process on a random port,
 * with its state in a fresh temp dir. Start it once per test file (PGlite takes ~3 s):
 *
 *   let stack: TestStack;
 *   beforeAll(async () => { stack = await startTestStack(); });
 *   afterAll(() => stack?.stop());
 *
 *   const { token } = await stack.register();            // a fresh user
 *   const admin = await stack.registerAdmin();            // a fresh admin
 *   const r = await stack.fetchJson('/api/v1/auth/me', { token });
 *   expect(r.status).toBe(200); expect(r.body.user.email).toBe(...);
 *
 * Defaults chosen for tests (each can be overridden through `env`): BCRYPT_COST=4, ADMIN_EMAIL
 * below as the admin address, and the catalog chosen by {catalog}:
 *  - 'postgres' (the default when this process has DATABASE_URL and the stack owns its data dir):
 *    a scratch database of its own on that server, a copy of the migrated template database
 *    (./databases.ts), dropped when the stack stops. The catalog then costs the test process no
 *    embedded database work, and the API runs against the PostgreSQL the cloud catalog is.
 *  - 'memory' (the default without DATABASE_URL): the embedded catalog (PGlite), opened in memory
 *    from the migrated template (./catalog-template.ts), which is what a fresh start would make,
 *    in a fraction of the time. `npm start`'s own catalog: tests of the local runtime ask for it.
 *  - 'disk' (the default when a data dir is given): the embedded catalog copied into the data
 *    dir, so that a restart there finds it. A stack stopped with {keepData: true} to be started
 *    again on its data dir needs it.
 * A `DATABASE_URL` (or Data API settings) in `env` is used as given. {seedCatalog: false} makes the
 * runtime initialise and migrate an embedded catalog under the data dir itself.
 * Schedules (prober, replicator) run as configured; pass {schedules: false} to drive them by hand
 * through stack.system.tasks.<name>.runNow().
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startSystem, type LocalSystem, type StartOptions } from '#local/system.js';
import { seedCatalog, seededInMemory } from './catalog-template.js';
import { createMigratedDatabase, type ScratchDatabase } from './databases.js';

export const ADMIN_EMAIL = 'admin@echofs.test';

export interface JsonResponse<T> {
  status: number;
  headers: Headers;
  body: T;
}

export interface FetchJsonInit {
  method?: string;
  /** Sent as JSON (objects) or as given (strings, bytes). */
  body?: unknown;
  /** Bearer token. */
  token?: string;
  headers?: Record<string, string>;
}

export interface TestUser {
  token: string;
  user: { id: string; username: string; email: string; role: 'user' | 'admin' };
  email: string;
  username: string;
  password: string;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted by each test
type AnyJson = any;

export interface TestStack {
  url: string;
  system: LocalSystem;
  dataDir: string;
  /** fetch against the stack; the body is parsed as JSON when the response says JSON (else the text). */
  fetchJson<T = AnyJson>(path: string, init?: FetchJsonInit): Promise<JsonResponse<T>>;
  /** Register a fresh user (unique email and username unless given); throws unless 201. */
  register(user?: Partial<Pick<TestUser, 'email' | 'username' | 'password'>>): Promise<TestUser>;
  /** Register the admin user (ADMIN_EMAIL) on first call, log in on later calls. */
  registerAdmin(): Promise<TestUser>;
  /** Stop the system and remove its data dir (keepData: leave it, to start again on it; needs the catalog on disk). */
  stop(opts?: { keepData?: boolean }): Promise<void>;
}

export type TestStackOptions = Partial<Omit<StartOptions, 'env'>> & {
  /** Start the embedded catalog from the migrated template (default true); false: the runtime makes it. */
  seedCatalog?: boolean;
  /**
   * The catalog (see above): 'postgres', a scratch database on DATABASE_URL's server (the default
   * when that is set and the stack makes its own data dir); 'memory', the embedded one in memory
   * (the default without DATABASE_URL); 'disk', the embedded one under the data dir (the default
   * when a data dir is given), for a stack that is started again on the same data dir.
   */
  catalog?: 'postgres' | 'memory' | 'disk';
};

/** Whether a system started with `env` (over this process's environment) keeps its catalog in PGlite. */
export function usesEmbeddedCatalog(env: Record<string, string | undefined>): boolean {
  const e = { ...process.env, ...env };
  return !e.DATABASE_URL && !(e.ECHOFS_DB_CLUSTER_ARN && e.ECHOFS_DB_SECRET_ARN);
}

export async function startTestStack(env: Record<string, string> = {}, opts: TestStackOptions = {}): Promise<TestStack> {
  const server = process.env.DATABASE_URL;
  const catalogInEnv = 'DATABASE_URL' in env || 'ECHOFS_DB_CLUSTER_ARN' in env;
  const { seedCatalog: seed = true, catalog = opts.dataDir !== undefined ? 'disk' : server && !catalogInEnv ? 'postgres' : 'memory', ...startOpts } = opts;
  if (catalog === 'postgres' && !server) throw new Error("{ catalog: 'postgres' } needs DATABASE_URL (a PostgreSQL server) in the test environment");
  if (catalog === 'postgres' && catalogInEnv) throw new Error("{ catalog: 'postgres' } makes its own database: give no DATABASE_URL or Data API settings in env");
  const dataDir = startOpts.dataDir ?? (await mkdtemp(join(tmpdir(), 'echofs-it-')));
  const ownsDir = startOpts.dataDir === undefined;
  let scratch: ScratchDatabase | undefined;
  let system: LocalSystem;
  // A cheap password hash, and a controller snapshot lease of 100 ms instead of 1 s: an operator
  // change (override, critical key, hint) is answered once every lease that may predate it has run
  // out, the same rule with a tenth of the wait. `env` may set either back.
  const baseEnv = { DATABASE_URL: '', BCRYPT_COST: '4', ECHOFS_MODE_CACHE_MS: '100', ECHOFS_ADMIN_EMAILS: ADMIN_EMAIL, ...env };
  const seedEmbedded = seed && catalog !== 'postgres' && usesEmbeddedCatalog(baseEnv);
  const inMemory = seedEmbedded && catalog === 'memory';
  try {
    if (catalog === 'postgres') scratch = await createMigratedDatabase(server as string);
    const systemEnv = scratch ? { ...baseEnv, DATABASE_URL: scratch.url } : baseEnv;
    if (seedEmbedded && !inMemory) await seedCatalog(dataDir);
    system = await startSystem({
      port: 0,
      ...startOpts,
      ...(inMemory ? { embeddedCatalog: await seededInMemory() } : {}),
      dataDir,
      env: systemEnv,
    });
  } catch (err) {
    await scratch?.drop().catch(() => undefined);
    if (ownsDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }

  const fetchJson = async <T = AnyJson>(path: string, init: FetchJsonInit = {}): Promise<JsonResponse<T>> => {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (init.token) headers['Authorization'] = `Bearer ${init.token}`;
    let body: BodyInit | undefined;
    if (typeof init.body === 'string') body = init.body;
    else if (init.body instanceof Uint8Array) body = new Uint8Array(init.body) as Uint8Array<ArrayBuffer>;
    else if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['Content-Type'] ??= 'application/json';
    }
    const res = await fetch(system.url + path, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body });
    const text = await res.text();
    const parsed = (res.headers.get('content-type') ?? '').includes('json') && text.length > 0 ? (JSON.parse(text) as T) : (text as T);
    return { status: res.status, headers: res.headers, body: parsed };
  };

  const register: TestStack['register'] = async (user = {}) => {
    const id = randomBytes(5).toString('hex');
    const email = user.email ?? `user-${id}@echofs.test`;
    const username = user.username ?? `user_${id}`;
    const password = user.password ?? `pw-${id}-secret`;
    const r = await fetchJson('/api/v1/auth/register', { body: { username, email, password } });
    if (r.status !== 201) throw new Error(`register ${email} failed: ${r.status} ${JSON.stringify(r.body)}`);
    return { token: r.body.token, user: r.body.user, email, username, password };
  };

  const adminPassword = 'admin-password-1';
  const registerAdmin: TestStack['registerAdmin'] = async () => {
    const login = await fetchJson('/api/v1/auth/login', { body: { email: ADMIN_EMAIL, password: adminPassword } });
    if (login.status === 200) return { token: login.body.token, user: login.body.user, email: ADMIN_EMAIL, username: login.body.user.username, password: adminPassword };
    return register({ email: ADMIN_EMAIL, username: 'admin', password: adminPassword });
  };

  return {
    url: system.url,
    system,
    dataDir,
    fetchJson,
    register,
    registerAdmin,
    async stop(o = {}) {
      await system.stop();
      await scratch?.drop();
      if (o.keepData && inMemory) throw new Error("this stack's catalog was in memory, so its data dir has none to start again on: start it with { catalog: 'disk' }");
      if (o.keepData && scratch) throw new Error("this stack's catalog was a scratch PostgreSQL database, dropped when it stopped: start it with { catalog: 'disk' }");
      if (ownsDir && !o.keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
