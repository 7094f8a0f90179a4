import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHandler } from '#functions/auth/handler.js';
import { TokenService } from '#shared/auth/tokens.js';
import { loadConfig } from '#shared/config.js';
import { json, type ApiResult } from '#shared/http.js';
import { createApiHandler } from '#functions/_lib/api.js';
import { buildServices, closeServices, type Services } from '#shared/runtime.js';
import { catalogTargets, openTestCatalog, type TestCatalog } from './catalog-fixtures.js';
import { apiEvent, lambdaContext, type ApiEventOptions } from '../helpers/api-event.js';

const SECRET = 's'.repeat(48);
const ADMIN_EMAIL = 'boss@example.com';

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: { success: boolean; token?: string; user?: Record<string, unknown>; error?: { code: string; message: string; field?: string } };
}

function reply(r: ApiResult): Reply {
  return { status: r.statusCode, headers: r.headers ?? {}, body: JSON.parse(r.body ?? 'null') as Reply['body'] };
}

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

describe.each(catalogTargets)('auth function on %s', (target) => {
  let t: TestCatalog;
  let dataDir: string;
  let services: Services;
  let handler: ReturnType<typeof createHandler>;
  let seq = 0;

  const call = async (method: string, path: string, opts?: ApiEventOptions) => reply(await handler(apiEvent(method, path, opts), lambdaContext('auth')));
  const register = (body: object | string) => call('POST', '/api/v1/auth/register', { body });
  const login = (body: object | string) => call('POST', '/api/v1/auth/login', { body });
  const me = (token?: string) => call('GET', '/api/v1/auth/me', { token });
  const fresh = () => {
    seq++;
    return { username: `user_${seq}`, email: `user${seq}@example.com`, password: `password-${seq}` };
  };
  async function newUser() {
    const input = fresh();
    const r = await register(input);
    expect(r.status).toBe(201);
    return { ...input, token: r.body.token as string, id: r.body.user?.id as string };
  }
  function expectError(r: Reply, status: number, message?: RegExp) {
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(r.body.success).toBe(false);
    expect(typeof r.body.error?.code).toBe('string');
    if (message) expect(r.body.error?.message).toMatch(message);
  }

  beforeAll(async () => {
    t = await openTestCatalog(target, { seeded: true });
    dataDir = await mkdtemp(join(tmpdir(), 'echofs-auth-'));
    const config = loadConfig({ JWT_SECRET: SECRET, ECHOFS_ADMIN_EMAILS: 'Boss@Example.com', BCRYPT_COST: '4', ECHOFS_DATA_DIR: dataDir });
    services = await buildServices(config, { catalog: t.catalog });
    handler = createHandler(services);
  });
  afterAll(async () => {
    if (services) await closeServices(services);
    await t?.dispose();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  describe('register', () => {
    it('answers 201 with a token and the public user, never the password or its hash', async () => {
      const input = fresh();
      const r = await register(input);
      expect(r.status).toBe(201);
      expect(r.body.success).toBe(true);
      expect(r.body.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      expect(r.body.user).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), username: input.username, email: input.email, role: 'user' });
      const raw = JSON.stringify(r.body);
      expect(raw).not.toContain(input.password);
      expect(raw).not.toMatch(/\$2[aby]\$/);
      expect(raw).not.toMatch(/hash/i);
    });

    it('stores the email lower-cased', async () => {
      const input = fresh();
      const r = await register({ ...input, email: input.email.toUpperCase() });
      expect(r.status).toBe(201);
      expect(r.body.user?.email).toBe(input.email);
    });

    it('gives the admin role to an email listed in ECHOFS_ADMIN_EMAILS, whatever its case', async () => {
      const r = await register({ username: 'the_boss', email: 'BOSS@example.COM', password: 'password-boss' });
      expect(r.status).toBe(201);
      expect(r.body.user).toMatchObject({ email: ADMIN_EMAIL, role: 'admin' });
      expect((await me(r.body.token)).body.user?.role).toBe('admin');
    });

    it('answers 400 to malformed JSON', async () => {
      expectError(await register('{"username": "x",'), 400, /Malformed JSON/);
    });

    it('answers 400 to a body that is not an object', async () => {
      expectError(await register('[1,2]'), 400);
    });

    for (const field of ['username', 'email', 'password'] as const) {
      it(`answers 400 naming '${field}' when it is missing`, async () => {
        const body: Record<string, unknown> = { ...fresh() };
        delete body[field];
        const r = await register(body);
        expectError(r, 400, new RegExp(`'${field}' is required`));
        expect(r.body.error?.field).toBe(field);
      });

      it(`answers 400 naming '${field}' when it is not a string`, async () => {
        const r = await register({ ...fresh(), [field]: 12345678 });
        expectError(r, 400, new RegExp(`'${field}' must be of type string`));
        expect(r.body.error?.field).toBe(field);
      });
    }

    it('answers 400 to a password shorter than 8 characters', async () => {
      const r = await register({ ...fresh(), password: '1234567' });
      expectError(r, 400, /'password'.*at least 8 characters/);
    });

    it('answers 400 to a password longer than 72 bytes', async () => {
      expectError(await register({ ...fresh(), password: 'x'.repeat(73) }), 400, /'password'.*at most 72 bytes/);
    });

    it('answers 400 naming the username rule', async () => {
      expectError(await register({ ...fresh(), username: 'no spaces' }), 400, /'username'.*3-32 characters: letters, digits/);
      expectError(await register({ ...fresh(), username: 'ab' }), 400, /'username'/);
    });

    it('answers 400 to an invalid email', async () => {
      expectError(await register({ ...fresh(), email: 'not-an-email' }), 400, /'email'.*email address/);
    });

    it('answers 409 to a duplicate email, in any case', async () => {
      const u = await newUser();
      const r = await register({ ...fresh(), email: u.email.toUpperCase() });
      expectError(r, 409, /email already exists/);
      expect(r.body.error?.code).toBe('email_taken');
    });

    it('answers 409 to a duplicate username, in any case', async () => {
      const u = await newUser();
      const r = await register({ ...fresh(), username: u.username.toUpperCase() });
      expectError(r, 409, /username is taken/);
      expect(r.body.error?.code).toBe('username_taken');
    });

    it('registers exactly one of two simultaneous sign-ups with the same email', async () => {
      const a = fresh();
      const b = { ...fresh(), email: a.email };
      const results = await Promise.all([register(a), register(b)]);
      expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    });
  });

  describe('login', () => {
    it('answers 200 with the same shape as register', async () => {
      const u = await newUser();
      const r = await login({ email: u.email, password: u.password });
      expect(r.status).toBe(200);
      expect(r.body.success).toBe(true);
      expect(r.body.user).toEqual({ id: u.id, username: u.username, email: u.email, role: 'user' });
      expect((await me(r.body.token)).status).toBe(200);
    });

    it('accepts the email in any case', async () => {
      const u = await newUser();
      const r = await login({ email: `  ${u.email.toUpperCase()} `, password: u.password });
      expect(r.status).toBe(200);
      expect(r.body.user?.id).toBe(u.id);
    });

    it('answers 401 with the same message for an unknown email and a wrong password', async () => {
      const u = await newUser();
      const wrongPassword = await login({ email: u.email, password: 'not-the-password' });
      const unknownEmail = await login({ email: 'nobody@example.com', password: u.password });
      expectError(wrongPassword, 401);
      expectError(unknownEmail, 401);
      // Same code and message (each carries its own request id).
      expect(wrongPassword.body.error?.code).toBe(unknownEmail.body.error?.code);
      expect(wrongPassword.body.error?.message).toBe(unknownEmail.body.error?.message);
    });

    it('answers 400 naming a missing field and to malformed JSON', async () => {
      const r = await login({ email: 'a@b.c' });
      expectError(r, 400, /'password' is required/);
      expectError(await login('not json'), 400, /Malformed JSON/);
    });
  });

  describe('tokens', () => {
    it('me answers 200 with the user for a valid token', async () => {
      const u = await newUser();
      const r = await me(u.token);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ success: true, user: { id: u.id, username: u.username, email: u.email, role: 'user' } });
    });

    it('answers 401 without a token', async () => {
      const r = await me();
      expectError(r, 401);
      expect(r.headers['WWW-Authenticate']).toBe('Bearer');
      expectError(reply(await handler(apiEvent('GET', '/api/v1/auth/me', { headers: { authorization: 'Basic abc' } }), lambdaContext('auth'))), 401);
    });

    it('answers 401 to an expired token', async () => {
      const u = await newUser();
      const past = new TokenService(SECRET, { now: () => Date.now() - 25 * 3600 * 1000 });
      const expired = await past.sign({ sub: u.id, role: 'user', tv: 0 });
      expectError(await me(expired), 401, /Invalid or expired token/);
    });

    it('answers 401 to a forged token (payload changed, signature kept)', async () => {
      const u = await newUser();
      const [h, p, s] = u.token.split('.');
      const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
      expectError(await me(`${h}.${b64({ ...payload, role: 'admin' })}.${s}`), 401);
    });

    it('answers 401 to an alg-none token', async () => {
      const u = await newUser();
      const none = new UnsecuredJWT({ role: 'admin', tv: 0 })
        .setSubject(u.id)
        .setIssuer('echofs')
        .setAudience('echofs-api')
        .setIssuedAt()
        .setExpirationTime('1h')
        .encode();
      expectError(await me(none), 401);
    });

    it('answers 401 to a token signed with another key', async () => {
      const u = await newUser();
      const other = await new TokenService('w'.repeat(48)).sign({ sub: u.id, role: 'user', tv: 0 });
      expectError(await me(other), 401);
    });

    it('answers 401 to a valid token of a user that does not exist', async () => {
      const ghost = await new TokenService(SECRET).sign({ sub: '00000000-0000-4000-8000-000000000000', role: 'user', tv: 0 });
      expectError(await me(ghost), 401);
    });

    it('takes the role from the catalog, not from the token', async () => {
      const u = await newUser();
      const claimsAdmin = await new TokenService(SECRET).sign({ sub: u.id, role: 'admin', tv: 0 });
      expect((await me(claimsAdmin)).body.user?.role).toBe('user');
    });
  });

  describe('change password', () => {
    const change = (token: string | undefined, body: object | string) => call('POST', '/api/v1/auth/password', { token, body });

    it('changes the password, returns a fresh token, and every older token stops working', async () => {
      const u = await newUser();
      const second = (await login({ email: u.email, password: u.password })).body.token as string;
      const r = await change(u.token, { current_password: u.password, new_password: 'brand-new-password' });
      expect(r.status).toBe(200);
      expect(r.body.success).toBe(true);
      expect(r.body.user?.id).toBe(u.id);
      expectError(await me(u.token), 401);
      expectError(await me(second), 401);
      expect((await me(r.body.token)).status).toBe(200);
      expectError(await login({ email: u.email, password: u.password }), 401);
      expect((await login({ email: u.email, password: 'brand-new-password' })).status).toBe(200);
    });

    it('refuses a wrong current password and keeps the old one', async () => {
      const u = await newUser();
      const r = await change(u.token, { current_password: 'wrong-password', new_password: 'another-password' });
      expectError(r, 400, /Current password is incorrect/);
      expect((await me(u.token)).status).toBe(200);
      expect((await login({ email: u.email, password: u.password })).status).toBe(200);
    });

    it('answers 400 to a short new password and naming a missing field', async () => {
      const u = await newUser();
      expectError(await change(u.token, { current_password: u.password, new_password: 'short' }), 400, /'new_password'.*at least 8/);
      expectError(await change(u.token, { new_password: 'long-enough' }), 400, /'current_password' is required/);
      expectError(await change(u.token, '{'), 400, /Malformed JSON/);
    });

    it('answers 401 without a token', async () => {
      expectError(await change(undefined, { current_password: 'x', new_password: 'long-enough' }), 401);
    });
  });

  describe('roles', () => {
    it('admin-only routes answer 403 to users and let admins through', async () => {
      const adminOnly = createApiHandler(
        'local',
        { 'GET /api/v1/local/faults': async (req) => json(200, { success: true, who: req.user?.role }) },
        { authenticator: services.authenticator },
      );
      const u = await newUser();
      const admin = await login({ email: ADMIN_EMAIL, password: 'password-boss' });
      expect(admin.status).toBe(200);
      expectError(reply(await adminOnly(apiEvent('GET', '/api/v1/local/faults', { token: u.token }), lambdaContext('auth'))), 403);
      const ok = reply(await adminOnly(apiEvent('GET', '/api/v1/local/faults', { token: admin.body.token }), lambdaContext('auth')));
      expect(ok.status).toBe(200);
    });
  });
});
