/**
 * Signed download links on the local stack: POST /api/v1/files/{id}/download-link answers a URL of
 * the streamed download route carrying `link=<token>`, which opens that file (and version) without
 * a bearer token, as an attachment, for 60 s; never another file or version, never as a session,
 * and not after the user signs out. A session token is never accepted as a link.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import { TokenService } from '#shared/auth/tokens.js';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';

const JWT_SECRET = 'download-link-test-secret-0123456789abcdef';

let stack: TestStack;
let alice: TestUser;

beforeAll(async () => {
  stack = await startTestStack({ JWT_SECRET }, { schedules: false });
  alice = await stack.register();
});
afterAll(async () => {
  await stack?.stop();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface LinkData {
  url: string;
  expires_at: string;
  expires_in_seconds: number;
}

async function upload(token: string, name: string, data: Buffer, headers: Record<string, string> = {}): Promise<string> {
  const form = new FormData();
  form.append('name', name);
  form.append('file', new Blob([new Uint8Array(data)]), 'ignored.bin');
  const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}`, ...headers } });
  const body = (await res.json()) as { data: { file_id: string } };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body.data.file_id;
}

async function linkFor(token: string, id: string, version?: number): Promise<LinkData> {
  const r = await stack.fetchJson(`/api/v1/files/${id}/download-link`, { method: 'POST', token, body: version === undefined ? {} : { version } });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  expect(r.body.success).toBe(true);
  return r.body.data as LinkData;
}

/** GET a URL of the stack with no Authorization header. */
async function open(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(new URL(url, stack.url), { headers });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

function errorCode(bytes: Buffer): { code: string; message: string } {
  return (JSON.parse(bytes.toString('utf8')) as { error: { code: string; message: string } }).error;
}

function withLink(id: string, link: string, query = ''): string {
  return `/api/v1/files/${id}/download?${query}${query ? '&' : ''}link=${encodeURIComponent(link)}`;
}

describe('download links', () => {
  it('a link downloads the exact bytes without a bearer token, as an attachment under the file name', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const name = 'résumé € "q".bin';
    const id = await upload(alice.token, name, data);
    const before = Date.now();
    const link = await linkFor(alice.token, id);
    expect(link.expires_in_seconds).toBe(60);
    const expires = Date.parse(link.expires_at);
    expect(expires).toBeGreaterThan(before);
    expect(expires).toBeLessThanOrEqual(Date.now() + 61_000);
    expect(link.url.startsWith(`/api/v1/files/${id}/download?`)).toBe(true);
    expect(new URL(link.url, stack.url).searchParams.get('version')).toBeNull();

    const got = await open(link.url);
    expect(got.status).toBe(200);
    expect(sha(got.bytes)).toBe(sha(data));
    const disposition = got.headers.get('content-disposition') ?? '';
    expect(disposition).toMatch(/^attachment; /);
    expect(disposition).toContain(`filename*=UTF-8''${encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`);
    expect(disposition).toMatch(/filename="[\x20-\x7e]+"/);
  });

  it('a link for a version opens that version only; a link without one opens no other version', async () => {
    const id = await upload(alice.token, 'versions.txt', Buffer.from('first'));
    await upload(alice.token, 'versions.txt', Buffer.from('second'), { 'If-Match': '1' });
    const v1 = await linkFor(alice.token, id, 1);
    expect(new URL(v1.url, stack.url).searchParams.get('version')).toBe('1');
    const got = await open(v1.url);
    expect(got.status).toBe(200);
    expect(got.bytes.toString()).toBe('first');

    const token = new URL(v1.url, stack.url).searchParams.get('link') as string;
    for (const query of ['', 'version=2']) {
      const other = await open(withLink(id, token, query));
      expect(other.status, query).toBe(403);
      expect(errorCode(other.bytes).code).toBe('link_mismatch');
      expect(errorCode(other.bytes).message).toContain("'link'");
    }
    const current = new URL((await linkFor(alice.token, id)).url, stack.url).searchParams.get('link') as string;
    expect((await open(withLink(id, current))).bytes.toString()).toBe('second');
    expect((await open(withLink(id, current, 'version=1'))).status).toBe(403);
    // The version may also come in the query string.
    const q = await stack.fetchJson(`/api/v1/files/${id}/download-link?version=2`, { method: 'POST', token: alice.token });
    expect(q.status).toBe(200);
    expect((await open((q.body.data as LinkData).url)).bytes.toString()).toBe('second');
  });

  it("a link for one file is refused on another file, the user's own or someone else's (403 link_mismatch)", async () => {
    const a = await upload(alice.token, 'a.txt', Buffer.from('aaa'));
    const b = await upload(alice.token, 'b.txt', Buffer.from('bbb'));
    const bob = await stack.register();
    const bobs = await upload(bob.token, 'bob.txt', Buffer.from('bob'));
    const linkA = new URL((await linkFor(alice.token, a)).url, stack.url).searchParams.get('link') as string;
    for (const target of [b, bobs]) {
      const r = await open(withLink(target, linkA));
      expect(r.status).toBe(403);
      expect(errorCode(r.bytes).code).toBe('link_mismatch');
    }
  });

  it('an expired link is refused with 401 invalid_link', async () => {
    const id = await upload(alice.token, 'expiring.txt', Buffer.from('soon gone'));
    const fresh = new URL((await linkFor(alice.token, id)).url, stack.url).searchParams.get('link') as string;
    const { tv } = decodeJwt(fresh) as { tv: number };
    // The same key and claims, signed two minutes ago (a fake clock): expired for a minute now.
    const past = new TokenService(JWT_SECRET, { now: () => Date.now() - 120_000 });
    const { token: expired } = await past.signLink({ sub: alice.user.id, tv, fid: id });
    const r = await open(withLink(id, expired));
    expect(r.status).toBe(401);
    expect(errorCode(r.bytes).code).toBe('invalid_link');
    expect(errorCode(r.bytes).message).toContain("'link'");
    // The same claims signed now open the file: only the expiry was wrong.
    const { token: current } = await new TokenService(JWT_SECRET).signLink({ sub: alice.user.id, tv, fid: id });
    expect((await open(withLink(id, current))).bytes.toString()).toBe('soon gone');
  });

  it('a session token is refused as a link, and a link is refused as a bearer token', async () => {
    const id = await upload(alice.token, 'kinds.txt', Buffer.from('kinds'));
    const asLink = await open(withLink(id, alice.token));
    expect(asLink.status).toBe(401);
    expect(errorCode(asLink.bytes).code).toBe('invalid_link');

    const link = new URL((await linkFor(alice.token, id)).url, stack.url).searchParams.get('link') as string;
    const asBearer = await open(`/api/v1/files/${id}/download`, { Authorization: `Bearer ${link}` });
    expect(asBearer.status).toBe(401);
    expect(errorCode(asBearer.bytes).code).toBe('invalid_token');
    expect((await stack.fetchJson('/api/v1/files', { token: link })).status).toBe(401);
  });

  it('signing out revokes the links issued before', async () => {
    const carol = await stack.register();
    const id = await upload(carol.token, 'carol.txt', Buffer.from('carol'));
    const link = await linkFor(carol.token, id);
    expect((await open(link.url)).status).toBe(200);
    expect((await stack.fetchJson('/api/v1/auth/logout', { method: 'POST', token: carol.token })).status).toBe(200);
    const r = await open(link.url);
    expect(r.status).toBe(401);
    expect(errorCode(r.bytes).code).toBe('invalid_link');
  });

  it('asking for a link needs a session, a known file of the caller and a valid version', async () => {
    expect((await stack.fetchJson(`/api/v1/files/${randomUUID()}/download-link`, { method: 'POST' })).status).toBe(401);
    const unknown = await stack.fetchJson(`/api/v1/files/${randomUUID()}/download-link`, { method: 'POST', token: alice.token });
    expect(unknown.status).toBe(404);
    const id = await upload(alice.token, 'asked.txt', Buffer.from('asked'));
    expect((await stack.fetchJson(`/api/v1/files/${id}/download-link`, { method: 'POST', token: alice.token, body: { version: 9 } })).status).toBe(404);
    const bad = await stack.fetchJson(`/api/v1/files/${id}/download-link`, { method: 'POST', token: alice.token, body: { version: 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.field).toBe('version');
    const bob = await stack.register();
    expect((await stack.fetchJson(`/api/v1/files/${id}/download-link`, { method: 'POST', token: bob.token })).status).toBe(404);
  });
});
