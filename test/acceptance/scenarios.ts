/**
 * The API acceptance suite, written once and run against every deployment shape (target.ts): the
 * local stack of `npm start` (local.test.ts) and the deployed bundles in Lambda-shaped containers
 * (test/lambda/deployed.test.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN_HEADER, adminAccount, BOOTSTRAP_ADMIN_EMAIL, eventually, registerUser, request, type Account, type Target } from './target.js';

const MiB = 1024 * 1024;
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function uploadMultipart(t: Target, token: string, name: string, data: Buffer, headers: Record<string, string> = {}) {
  const form = new FormData();
  form.append('name', name);
  form.append('file', new Blob([new Uint8Array(data)], { type: 'application/octet-stream' }), name);
  return request(t, '/api/v1/files/upload', { method: 'POST', body: form, token, headers });
}

/** A chunk session: declare, send the chunks `inFlight` at a time, commit. */
async function uploadChunked(t: Target, token: string, name: string, data: Buffer, inFlight = 4) {
  const chunks: Buffer[] = [];
  for (let o = 0; o < data.length; o += MiB) chunks.push(data.subarray(o, Math.min(data.length, o + MiB)));
  const created = await request(t, '/api/v1/uploads', {
    token,
    body: { name, size: data.length, sha256: sha256(data), chunks: chunks.map((c) => ({ hash: sha256(c), size: c.length })) },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id = created.body.data.upload_id as string;
  const queue = [...chunks];
  const statuses: number[] = [];
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let c = queue.shift(); c; c = queue.shift()) {
        const r = await request(t, `/api/v1/uploads/${id}/chunks/${sha256(c)}`, { method: 'PUT', token, body: c, headers: { 'Content-Type': 'application/octet-stream' } });
        statuses.push(r.status);
        if (r.status !== 200) throw new Error(`chunk PUT: ${r.status} ${JSON.stringify(r.body)}`);
      }
    }),
  );
  const commit = await request(t, `/api/v1/uploads/${id}/commit`, { method: 'POST', token });
  expect(commit.status, JSON.stringify(commit.body)).toBe(200);
  return commit.body.data as { file_id: string; version: number; sha256: string; size: number };
}

async function download(t: Target, token: string, fileId: string, query = '') {
  return request(t, `/api/v1/files/${fileId}/download${query}`, { token });
}

export function defineAcceptance(getTarget: () => Target): void {
  describe('accounts', () => {
    it('register, log in, read the profile, change the password (old password and old tokens stop working)', async () => {
      const t = getTarget();
      const u = await registerUser(t);
      const me = await request(t, '/api/v1/auth/me', { token: u.token });
      expect(me.status).toBe(200);
      expect(me.body.user.email).toBe(u.email);
      const login = await request(t, '/api/v1/auth/login', { body: { email: u.email, password: u.password } });
      expect(login.status).toBe(200);
      // Old tokens stop working because the change bumps the account's token version (the `tv`
      // claim), not because of their issue time: no need to wait for the clock's next second.
      const changed = await request(t, '/api/v1/auth/password', { token: u.token, body: { current_password: u.password, new_password: `${u.password}-new` } });
      expect(changed.status, JSON.stringify(changed.body)).toBe(200);
      expect((await request(t, '/api/v1/auth/login', { body: { email: u.email, password: u.password } })).status).toBe(401);
      expect((await request(t, '/api/v1/auth/login', { body: { email: u.email, password: `${u.password}-new` } })).status).toBe(200);
      expect((await request(t, '/api/v1/auth/me', { token: u.token })).status).toBe(401);
      expect((await request(t, '/api/v1/auth/me', { token: changed.body.token })).status).toBe(200);
    });
  });

  describe('files', () => {
    let user: Account;
    const ensureUser = async () => (user ??= await registerUser(getTarget()));

    it('a single-request upload downloads byte for byte through the streamed download path', async () => {
      const t = getTarget();
      const u = await ensureUser();
      const data = randomBytes(300_000);
      const up = await uploadMultipart(t, u.token, 'single.bin', data);
      expect(up.status, JSON.stringify(up.body)).toBe(201);
      const dl = await download(t, u.token, up.body.data.file_id);
      expect(dl.status).toBe(200);
      expect(sha256(dl.body)).toBe(sha256(data));
      expect(dl.headers.get('etag')).toBe(`"${sha256(data)}.1"`);
    });

    it('versions: a second upload is version 2, version 1 stays readable, If-Match guards the write (412 on a stale version)', async () => {
      const t = getTarget();
      const u = await ensureUser();
      const v1 = randomBytes(10_000);
      const v2 = randomBytes(12_000);
      const first = await uploadMultipart(t, u.token, 'versions.txt', v1);
      expect(first.status).toBe(201);
      const second = await uploadMultipart(t, u.token, 'versions.txt', v2, { 'If-Match': '1' });
      expect(second.status, JSON.stringify(second.body)).toBe(201);
      expect(second.body.data.version).toBe(2);
      const stale = await uploadMultipart(t, u.token, 'versions.txt', randomBytes(100), { 'If-Match': '1' });
      expect(stale.status).toBe(412);
      const id = second.body.data.file_id as string;
      const versions = await request(t, `/api/v1/files/${id}/versions`, { token: u.token });
      expect(versions.body.data.versions.map((v: { version: number }) => v.version).sort()).toEqual([1, 2]);
      expect(sha256((await download(t, u.token, id, '?version=1')).body)).toBe(sha256(v1));
      expect(sha256((await download(t, u.token, id)).body)).toBe(sha256(v2));
    });

    it('a chunk session with 4 chunks in flight commits and reads back (in the harness: the chunks ran on different containers)', async () => {
      const t = getTarget();
      const u = await ensureUser();
      const data = randomBytes(4 * MiB);
      const since = Date.now();
      const f = await uploadChunked(t, u.token, 'four-chunks.bin', data, 4);
      expect(f.size).toBe(data.length);
      if (t.containersOf) {
        const containers = t.containersOf('PUT /api/v1/uploads/{id}/chunks/{hash}', since);
        expect(containers).toHaveLength(4);
        expect(new Set(containers).size, containers.join(', ')).toBeGreaterThanOrEqual(3);
      }
      expect(sha256((await download(t, u.token, f.file_id)).body)).toBe(sha256(data));
    });

    it('a 25 MiB file round-trips: chunk upload, streamed download, ranged read', async () => {
      const t = getTarget();
      const u = await ensureUser();
      const data = randomBytes(25 * MiB);
      const f = await uploadChunked(t, u.token, 'big.bin', data, 4);
      const dl = await download(t, u.token, f.file_id);
      expect(dl.status).toBe(200);
      expect(dl.body.length).toBe(data.length);
      expect(sha256(dl.body)).toBe(sha256(data));
      const range = await request(t, `/api/v1/files/${f.file_id}/download`, { token: u.token, headers: { Range: 'bytes=1048570-1048585' } });
      expect(range.status).toBe(206);
      expect(Buffer.compare(range.body, data.subarray(1048570, 1048586))).toBe(0);
      // 25 MiB through a 2-core machine shared with other test files: a throughput test, not a latency one.
    }, 240_000);
  });

  describe('admin bootstrap', () => {
    it('an address of the admin list becomes admin by registering: only with the admin token where the target has one (403 without it or with a wrong one)', async () => {
      const t = getTarget();
      const body = { username: 'second_admin', email: BOOTSTRAP_ADMIN_EMAIL, password: 'admin-password-2' };
      if (t.adminToken) {
        const none = await request(t, '/api/v1/auth/register', { body });
        expect(none.status, JSON.stringify(none.body)).toBe(403);
        expect(none.body.error.code).toBe('admin_token_required');
        const wrong = await request(t, '/api/v1/auth/register', { body, headers: { [ADMIN_TOKEN_HEADER]: 'not-the-admin-token-0123' } });
        expect(wrong.status, JSON.stringify(wrong.body)).toBe(403);
        expect(wrong.body.error.code).toBe('admin_token_invalid');
        expect(JSON.stringify(wrong.body)).not.toContain(t.adminToken);
        expect((await request(t, '/api/v1/auth/login', { body: { email: body.email, password: body.password } })).status, 'no account was left behind').toBe(401);
      }
      const ok = await request(t, '/api/v1/auth/register', { body, headers: t.adminToken ? { [ADMIN_TOKEN_HEADER]: t.adminToken } : {} });
      expect(ok.status, JSON.stringify(ok.body)).toBe(201);
      expect(ok.body.user.role).toBe('admin');
      if (t.adminToken) expect(JSON.stringify(ok.body)).not.toContain(t.adminToken);
      expect((await request(t, '/v1/audit', { token: ok.body.token })).status, 'an admin route').toBe(200);
    });
  });

  describe('controller', () => {
    it('status, a global override (admin only) seen by /v1/mode, and a critical key that forces strong', async () => {
      const t = getTarget();
      const admin = await adminAccount(t);
      const user = await registerUser(t);
      const status = await request(t, '/v1/status', { token: user.token });
      expect(status.status).toBe(200);
      expect(status.body.replicas.map((r: { region: string }) => r.region).sort()).toEqual([...t.regions].sort());
      expect((await request(t, '/v1/override', { token: user.token, body: { mode: 'A' } })).status).toBe(403);
      expect((await request(t, '/v1/override', { token: admin.token, body: { mode: 'A' } })).status).toBe(200);
      expect((await request(t, '/v1/mode', { token: user.token })).body.mode).toBe('A');
      expect((await request(t, '/v1/override', { method: 'DELETE', token: admin.token })).status).toBe(200);
      const key = `critical-${randomBytes(4).toString('hex')}`;
      expect((await request(t, '/v1/critical-keys', { token: admin.token, body: { key } })).status).toBe(201);
      expect((await request(t, '/v1/critical-keys', { token: admin.token })).body.critical_keys).toContain(key);
      expect((await request(t, `/v1/mode?object_id=${key}`, { token: user.token })).body.mode).toBe('C');
      expect((await request(t, `/v1/critical-keys?key=${key}`, { method: 'DELETE', token: admin.token })).status).toBe(200);
    });
  });

  describe('replication', () => {
    it('a black-holed replica: writes still succeed, the prober sees it, and after the heal the scheduled replicator drains the backlog', async () => {
      const t = getTarget();
      const u = await registerUser(t);
      const region = t.regions[t.regions.length - 1] as string;
      await t.partition(region, true);
      try {
        await t.runProber();
        await eventually(`the controller to judge ${region} unreachable`, async () => {
          const s = await request(t, '/v1/status', { token: u.token });
          return s.body.replicas?.find((r: { region: string; reachable: boolean }) => r.region === region && r.reachable === false);
        });
        const data = randomBytes(200_000);
        const up = await uploadMultipart(t, u.token, 'partitioned.bin', data);
        expect(up.status, JSON.stringify(up.body)).toBe(201);
        const info = await request(t, `/api/v1/files/${up.body.data.file_id}`, { token: u.token });
        // `complete` lists the regions holding every chunk of the file.
        expect(info.body.data.replicas.complete).not.toContain(region);
        expect(sha256((await download(t, u.token, up.body.data.file_id)).body)).toBe(sha256(data));
        await t.partition(region, false);
        await eventually(
          'the backlog to drain',
          async () => {
            await t.runReplicator();
            const r = await request(t, `/api/v1/files/${up.body.data.file_id}`, { token: u.token });
            return r.body.data.replicas.complete.length === t.regions.length ? r.body.data : undefined;
          },
          90_000,
          1000,
        );
      } finally {
        await t.partition(region, false);
      }
    });
  });
}
