/**
 * What the acceptance scenarios run against: a base URL and the few operations that differ between
 * a deployment shape and another (the in-process local stack of `npm start`, or the Lambda-shaped
 * harness of the deployed bundles). The scenarios themselves (scenarios.ts) are written once.
 */
import { randomBytes } from 'node:crypto';

export interface JsonResponse {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are asserted by each scenario
  body: any;
}

export interface RequestInit {
  method?: string;
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
}

export interface Account {
  token: string;
  user: { id: string; email: string; role: string };
  email: string;
  password: string;
}

export interface Target {
  name: string;
  /** The origin clients use. */
  url: string;
  regions: string[];
  /** An account with the admin role. */
  admin(): Promise<Account>;
  /**
   * The admin bootstrap token, where the deployment requires one to register an address of its
   * admin list (the deployed bundles: the secret the deploy generates); undefined where the admin
   * list alone decides (`npm start` without ECHOFS_ADMIN_TOKEN).
   */
  adminToken?: string;
  /** Black-hole a replica region (a partition), or bring it back. */
  partition(region: string, on: boolean): Promise<void>;
  /** Run the scheduled replication drain now, and wait for it. */
  runReplicator(): Promise<void>;
  /** Start the scheduled prober now (its probes then run as scheduled). */
  runProber(): Promise<void>;
  /** Which container served each files-function request since `since` (harness only). */
  containersOf?(routeKey: string, since: number): string[];
  stop(): Promise<void>;
}

export async function request(target: Target, path: string, init: RequestInit = {}): Promise<JsonResponse> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (init.token) headers.Authorization = `Bearer ${init.token}`;
  let body: BodyInit | undefined;
  if (typeof init.body === 'string') body = init.body;
  else if (init.body instanceof Uint8Array) body = new Uint8Array(init.body) as Uint8Array<ArrayBuffer>;
  else if (init.body instanceof FormData) body = init.body;
  else if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers['Content-Type'] ??= 'application/json';
  }
  const res = await fetch(target.url + path, { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body });
  const buf = Buffer.from(await res.arrayBuffer());
  const json = (res.headers.get('content-type') ?? '').includes('json') && buf.length > 0;
  return { status: res.status, headers: res.headers, body: json ? JSON.parse(buf.toString('utf8')) : buf };
}

export async function registerUser(target: Target, o: { email?: string; password?: string; adminToken?: string } = {}): Promise<Account> {
  const id = randomBytes(5).toString('hex');
  const email = o.email ?? `user-${id}@echofs.test`;
  const password = o.password ?? `pw-${id}-secret`;
  const headers: Record<string, string> = o.adminToken ? { [ADMIN_TOKEN_HEADER]: o.adminToken } : {};
  const r = await request(target, '/api/v1/auth/register', { body: { username: `user_${id}`, email, password }, headers });
  if (r.status !== 201) throw new Error(`register ${email}: ${r.status} ${JSON.stringify(r.body)}`);
  return { token: r.body.token, user: r.body.user, email, password };
}

export const ADMIN_EMAIL = 'admin@echofs.test';
/** A second address of the admin list, registered once by the admin bootstrap scenario. */
export const BOOTSTRAP_ADMIN_EMAIL = 'admin2@echofs.test';
/** The admin list every target is deployed or started with. */
export const ADMIN_EMAILS = [ADMIN_EMAIL, BOOTSTRAP_ADMIN_EMAIL];
/** The header that carries the admin bootstrap token. */
export const ADMIN_TOKEN_HEADER = 'X-EchoFS-Admin-Token';

/** Register the admin address on first use (with the admin token where the target needs one), log in afterwards. */
export async function adminAccount(target: Target): Promise<Account> {
  const password = 'admin-password-1';
  const login = await request(target, '/api/v1/auth/login', { body: { email: ADMIN_EMAIL, password } });
  if (login.status === 200) return { token: login.body.token, user: login.body.user, email: ADMIN_EMAIL, password };
  return registerUser(target, { email: ADMIN_EMAIL, password, adminToken: target.adminToken });
}

/** Poll until `check` returns a value, or fail with the last observation. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000, everyMs = 500): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
