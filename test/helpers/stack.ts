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
 * Defaults chosen for tests (each can be overridden through `env`): the embedded catalog (PGlite)
 * even when DATABASE_URL is set, BCRYPT_COST=4, and ADMIN_EMAIL below as the admin address.
 * The embedded catalog starts as a copy of the migrated template (./catalog-template.ts), which is
 * what a fresh start would make, in a fraction of the time: in memory when the stack owns its data
 * dir (the default), else copied into the data dir given, so that a restart there finds it. A
 * stack that is stopped with {keepData: true} to be started again on its data dir must keep its
 * catalog on disk: {catalog: 'disk'}. {seedCatalog: false} makes the runtime initialise and
 * migrate a catalog under the data dir itself.
 * Schedules (prober, replicator) run as configured; pass {schedules: false} to drive them by hand
 * through stack.system.tasks.<name>.runNow().
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { startSystem, type LocalSystem, type StartOptions } from '#local/system.js';
import { seedCatalog, seededInMemory } from './catalog-template.js';

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
   * Where a seeded embedded catalog lives: 'memory' (the default when the stack makes its own
   * data dir) or 'disk', under the data dir (the default when a data dir is given), for a stack
   * that is started again on the same data dir.
   */
  catalog?: 'memory' | 'disk';
};

/** Whether a system started with `env` (over this process's environment) keeps its catalog in PGlite. */
export function usesEmbeddedCatalog(env: Record<string, string | undefined>): boolean {
  const e = { ...process.env, ...env };
  return !e.DATABASE_URL && !(e.ECHOFS_DB_CLUSTER_ARN && e.ECHOFS_DB_SECRET_ARN);
}

export async function startTestStack(env: Record<string, string> = {}, opts: TestStackOptions = {}): Promise<TestStack> {
  const { seedCatalog: seed = true, catalog = opts.dataDir === undefined ? 'memory' : 'disk', ...startOpts } = opts;
  const dataDir = startOpts.dataDir ?? (await mkdtemp(join(tmpdir(), 'echofs-it-')));
  const ownsDir = startOpts.dataDir === undefined;
  const systemEnv = { DATABASE_URL: '', BCRYPT_COST: '4', ECHOFS_ADMIN_EMAILS: ADMIN_EMAIL, ...env };
  const seedEmbedded = seed && usesEmbeddedCatalog(systemEnv);
  const inMemory = seedEmbedded && catalog === 'memory';
  let system: LocalSystem;
  try {
    if (seedEmbedded && !inMemory) await seedCatalog(dataDir);
    system = await startSystem({
      port: 0,
      ...startOpts,
      ...(inMemory ? { embeddedCatalog: await seededInMemory() } : {}),
      dataDir,
      env: systemEnv,
    });
  } catch (err) {
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
      if (o.keepData && inMemory) throw new Error("this stack's catalog was in memory, so its data dir has none to start again on: start it with { catalog: 'disk' }");
      if (ownsDir && !o.keepData) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
