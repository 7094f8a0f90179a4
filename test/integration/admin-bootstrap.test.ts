/**
 * Admin bootstrap through the auth function, as built from configuration (buildServices), in its
 * three modes:
 * - local, ECHOFS_ADMIN_EMAILS only: a listed address becomes admin by registering, as always;
 * - ECHOFS_ADMIN_TOKEN set: a listed address needs the token (X-EchoFS-Admin-Token) to register
 *   or to claim the role; without it, or with a wrong one, 403 and no account;
 * - ECHOFS_ADMIN_TOKEN_ARN (the cloud's): the same, with the token read from Secrets Manager (the
 *   emulator, through the real SDK) on every check, so a rotated token holds at once.
 * Every log line written meanwhile (at DEBUG) is captured: no token, right or wrong, is in any.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '#functions/auth/handler.js';
import { loadConfig } from '#shared/config.js';
import { logger } from '#shared/observability.js';
import { buildServices } from '#shared/runtime.js';
import { startSecretsManager, type EmulatedSecret, type SecretsManagerEmulator } from '#emulators/secrets-manager.js';
import { openTestCatalog, type TestCatalog } from './catalog-fixtures.js';
import { apiEvent, lambdaContext } from '../helpers/api-event.js';

const JWT = 'j'.repeat(48);
const LOCAL_TOKEN = 'local-admin-token-Zq81xVb3';
const CLOUD_TOKEN = 'cloudAdminToken7Hh2Kp9Lw4Nd6Rt8Ys1Ue3Wm5';
const ROTATED_TOKEN = 'rotatedAdminToken2Bb4Cc6Dd8Ff0Gg1Jj3Kk5';
const WRONG_TOKEN = 'wrong-admin-token-Qm2Xc7Vb';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:AdminToken-abcdef';

interface Reply {
  status: number;
  body: { success: boolean; token?: string; message?: string; user?: { role?: string; email?: string }; error?: { code: string; message: string; field?: string } };
  raw: string;
}

type Handler = ReturnType<typeof createHandler>;

/** A request to the auth function; `adminToken` goes in the X-EchoFS-Admin-Token header. */
function event(method: string, path: string, opts: { body?: object; token?: string; adminToken?: string } = {}) {
  return apiEvent(method, path, { body: opts.body, token: opts.token, headers: opts.adminToken === undefined ? {} : { 'X-EchoFS-Admin-Token': opts.adminToken } });
}

async function call(h: Handler, method: string, path: string, opts?: Parameters<typeof event>[2]): Promise<Reply> {
  const r = await h(event(method, path, opts), lambdaContext('auth'));
  return { status: r.statusCode, body: JSON.parse(r.body ?? 'null') as Reply['body'], raw: JSON.stringify(r) };
}

const register = (h: Handler, email: string, adminToken?: string) =>
  call(h, 'POST', '/api/v1/auth/register', { body: { username: email.split('@')[0], email, password: 'a-long-password' }, adminToken });
const login = (h: Handler, email: string) => call(h, 'POST', '/api/v1/auth/login', { body: { email, password: 'a-long-password' } });
const claim = (h: Handler, token: string, adminToken?: string) => call(h, 'POST', '/api/v1/auth/admin/claim', { token, adminToken });
const me = (h: Handler, token: string) => call(h, 'GET', '/api/v1/auth/me', { token });

describe('admin bootstrap through the auth function', () => {
  let t: TestCatalog;
  let dataDir: string;
  let sm: SecretsManagerEmulator;
  const secret: EmulatedSecret = { arn: SECRET_ARN, name: 'AdminToken', value: CLOUD_TOKEN };
  const logs: string[] = [];
  const restore: (() => void)[] = [];

  /** The auth function built from this environment, on the shared test catalog. */
  async function handlerFor(env: Record<string, string>): Promise<Handler> {
    const config = loadConfig({ JWT_SECRET: JWT, BCRYPT_COST: '4', ECHOFS_DATA_DIR: dataDir, ...env });
    return createHandler(await buildServices(config, { catalog: t.catalog }));
  }

  beforeAll(async () => {
    // Every log line, at the most talkative level, kept for the no-token-in-logs check.
    logger.setLogLevel('DEBUG');
    for (const stream of [process.stdout, process.stderr]) {
      const write = stream.write.bind(stream);
      stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
        logs.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
        return (write as (c: string | Uint8Array, ...r: unknown[]) => boolean)(chunk, ...rest);
      }) as typeof stream.write;
      restore.push(() => {
        stream.write = write;
      });
    }
    t = await openTestCatalog('pglite', { seeded: true });
    dataDir = await mkdtemp(join(tmpdir(), 'echofs-admin-'));
    sm = await startSecretsManager([secret]);
    // The SDK's own endpoint variable, as the Lambda harness sets it for the deployed functions.
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
    restore.push(() => {
      for (const k of ['AWS_ENDPOINT_URL_SECRETS_MANAGER', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    });
  });

  afterAll(async () => {
    for (const r of restore.reverse()) r();
    logger.setLogLevel('ERROR');
    await sm?.close();
    await t?.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  describe('locally with ECHOFS_ADMIN_EMAILS and no token: as before', () => {
    it('a listed address registers as admin without any token; others as users', async () => {
      const h = await handlerFor({ ECHOFS_ADMIN_EMAILS: 'first@example.com' });
      const admin = await register(h, 'first@example.com');
      expect(admin.status, admin.raw).toBe(201);
      expect(admin.body.user?.role).toBe('admin');
      const user = await register(h, 'someone@example.com');
      expect(user.body.user?.role).toBe('user');
    });

    it('the claim promotes a listed account that registered before its address was listed, and refuses others', async () => {
      const before = await handlerFor({});
      const late = await register(before, 'late-local@example.com');
      expect(late.body.user?.role).toBe('user');
      const after = await handlerFor({ ECHOFS_ADMIN_EMAILS: 'late-local@example.com' });
      const claimed = await claim(after, late.body.token as string);
      expect(claimed.status, claimed.raw).toBe(200);
      expect(claimed.body.user?.role).toBe('admin');
      // The role lives in the catalog: the token issued before the claim sees it too.
      expect((await me(after, late.body.token as string)).body.user?.role).toBe('admin');

      const other = await register(after, 'not-listed@example.com');
      const refused = await claim(after, other.body.token as string);
      expect(refused.status).toBe(403);
      expect(refused.body.error?.code).toBe('not_admin_address');
      expect((await me(after, other.body.token as string)).body.user?.role).toBe('user');
    });

    it('the claim needs a signed-in account (401 without a bearer token)', async () => {
      const h = await handlerFor({ ECHOFS_ADMIN_EMAILS: 'late-local@example.com' });
      expect((await call(h, 'POST', '/api/v1/auth/admin/claim', { adminToken: LOCAL_TOKEN })).status).toBe(401);
    });
  });

  describe('with ECHOFS_ADMIN_TOKEN set: the token check is on', () => {
    let h: Handler;
    beforeAll(async () => {
      h = await handlerFor({ ECHOFS_ADMIN_EMAILS: 'boss@example.com,late@example.com', ECHOFS_ADMIN_TOKEN: LOCAL_TOKEN });
    });

    it('registering a listed address without the token is 403 admin_token_required, and leaves no account behind', async () => {
      const r = await register(h, 'boss@example.com');
      expect(r.status, r.raw).toBe(403);
      expect(r.body.error?.code).toBe('admin_token_required');
      expect(r.body.error?.message).toMatch(/X-EchoFS-Admin-Token/);
      expect((await login(h, 'boss@example.com')).status, 'no account was created').toBe(401);
    });

    it('with a wrong token it is 403 admin_token_invalid, which never shows the token', async () => {
      const r = await register(h, 'boss@example.com', WRONG_TOKEN);
      expect(r.status, r.raw).toBe(403);
      expect(r.body.error?.code).toBe('admin_token_invalid');
      expect(r.raw).not.toContain(LOCAL_TOKEN);
      expect(r.raw).not.toContain(WRONG_TOKEN);
      // A near miss (the right token with one character changed, or a prefix of it) is no better.
      expect((await register(h, 'boss@example.com', LOCAL_TOKEN.slice(0, -1) + 'x')).body.error?.code).toBe('admin_token_invalid');
      expect((await register(h, 'boss@example.com', LOCAL_TOKEN.slice(0, 8))).body.error?.code).toBe('admin_token_invalid');
      expect((await login(h, 'boss@example.com')).status).toBe(401);
    });

    it('with the right token (surrounding spaces ignored) the listed address registers as admin', async () => {
      const r = await register(h, 'boss@example.com', ` ${LOCAL_TOKEN} `);
      expect(r.status, r.raw).toBe(201);
      expect(r.body.user).toMatchObject({ email: 'boss@example.com', role: 'admin' });
      expect(r.raw).not.toContain(LOCAL_TOKEN);
      expect((await me(h, r.body.token as string)).body.user?.role).toBe('admin');
    });

    it('an address that is not listed registers as a user, token or not: the token alone makes nobody admin', async () => {
      expect((await register(h, 'plain@example.com')).body.user?.role).toBe('user');
      const withToken = await register(h, 'plain2@example.com', LOCAL_TOKEN);
      expect(withToken.status).toBe(201);
      expect(withToken.body.user?.role).toBe('user');
      expect((await claim(h, withToken.body.token as string, LOCAL_TOKEN)).body.error?.code).toBe('not_admin_address');
    });

    it('claiming the role for a listed account: 403 without or with a wrong token, admin with the right one', async () => {
      const late = await register(await handlerFor({}), 'late@example.com');
      const token = late.body.token as string;
      const none = await claim(h, token);
      expect(none.status).toBe(403);
      expect(none.body.error?.code).toBe('admin_token_required');
      const wrong = await claim(h, token, WRONG_TOKEN);
      expect(wrong.status).toBe(403);
      expect(wrong.body.error?.code).toBe('admin_token_invalid');
      expect((await me(h, token)).body.user?.role).toBe('user');
      const right = await claim(h, token, LOCAL_TOKEN);
      expect(right.status, right.raw).toBe(200);
      expect(right.body.user?.role).toBe('admin');
      expect(right.raw).not.toContain(LOCAL_TOKEN);
      expect((await me(h, token)).body.user?.role).toBe('admin');
      // Idempotent.
      expect((await claim(h, token, LOCAL_TOKEN)).status).toBe(200);
    });

    it('a malformed header is a 400 that names it', async () => {
      const r = await register(h, 'bad-header@example.com', 'x'.repeat(1025));
      expect(r.status).toBe(400);
      expect(r.body.error?.field).toBe('x-echofs-admin-token');
    });
  });

  describe('with ECHOFS_ADMIN_TOKEN_ARN (the deployed auth function): the token is read from Secrets Manager on every check', () => {
    let h: Handler;
    beforeAll(async () => {
      h = await handlerFor({ ECHOFS_ADMIN_EMAILS: 'ops@example.com,ops2@example.com,ops3@example.com', ECHOFS_ADMIN_TOKEN_ARN: SECRET_ARN });
    });

    it('no token: 403 without reading the secret; wrong token: 403; right token: admin', async () => {
      const reads = sm.reads;
      expect((await register(h, 'ops@example.com')).body.error?.code).toBe('admin_token_required');
      expect(sm.reads).toBe(reads);
      expect((await register(h, 'ops@example.com', WRONG_TOKEN)).body.error?.code).toBe('admin_token_invalid');
      const ok = await register(h, 'ops@example.com', CLOUD_TOKEN);
      expect(ok.status, ok.raw).toBe(201);
      expect(ok.body.user?.role).toBe('admin');
      expect(sm.reads, 'one GetSecretValue per check').toBe(reads + 2);
    });

    it('a rotated token holds at once: nothing is cached in the container', async () => {
      secret.value = ROTATED_TOKEN;
      try {
        expect((await register(h, 'ops2@example.com', CLOUD_TOKEN)).body.error?.code).toBe('admin_token_invalid');
        const ok = await register(h, 'ops2@example.com', ROTATED_TOKEN);
        expect(ok.status, ok.raw).toBe(201);
        expect(ok.body.user?.role).toBe('admin');
      } finally {
        secret.value = CLOUD_TOKEN;
      }
    });

    it('a secret that cannot be read is a 503 naming no secret, and no account', async () => {
      const broken = await handlerFor({ ECHOFS_ADMIN_EMAILS: 'ops3@example.com', ECHOFS_ADMIN_TOKEN_ARN: `${SECRET_ARN}-gone` });
      const r = await register(broken, 'ops3@example.com', CLOUD_TOKEN);
      expect(r.status, r.raw).toBe(503);
      expect(r.body.error?.code).toBe('admin_token_unavailable');
      expect(r.raw).not.toContain('arn:aws');
      expect((await login(broken, 'ops3@example.com')).status).toBe(401);
    });
  });

  it('no admin token, right or wrong, appears in any log line; refusals and grants are logged', () => {
    const all = logs.join('');
    expect(all).toContain('admin token refused');
    expect(all).toContain('admin role granted');
    for (const secretValue of [LOCAL_TOKEN, CLOUD_TOKEN, ROTATED_TOKEN, WRONG_TOKEN, LOCAL_TOKEN.slice(0, 8)]) expect(all).not.toContain(secretValue);
  });
});
