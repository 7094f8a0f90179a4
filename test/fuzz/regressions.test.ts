/**
 * Regressions for the hostile requests that once crashed the local server or answered 5xx. Each
 * test sends the request, asserts a 4xx naming what is wrong, then asserts the server still serves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';

const MAX_FILE_BYTES = 4096;
let stack: TestStack;
let alice: TestUser;

beforeAll(async () => {
  stack = await startTestStack({ ECHOFS_MAX_FILE_BYTES: String(MAX_FILE_BYTES) }, { schedules: false });
  alice = await stack.register();
});
afterAll(async () => {
  await stack?.stop();
});

/** The server is alive and answers a normal authenticated request. */
async function stillServes(): Promise<void> {
  const r = await stack.fetchJson('/api/v1/auth/me', { token: alice.token });
  expect(r.status).toBe(200);
}

function rawUpload(body: Buffer | string, boundary = 'zzz') {
  return fetch(`${stack.url}/api/v1/files/upload`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${alice.token}`, 'Content-Type': `multipart/form-data; boundary=${boundary}` },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
}

describe('crashes', () => {
  it('a multipart body that ends before its closing boundary answers 400 and the server keeps serving', async () => {
    const res = await rawUpload('--zzz\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nabc');
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(res.status).toBe(400);
    expect(body.error.code).toBe('invalid_multipart');
    await stillServes();
  });

  it('a truncated multipart body whose file is larger than one read still answers 400', async () => {
    const res = await rawUpload(Buffer.concat([Buffer.from('--zzz\r\nContent-Disposition: form-data; name="file"; filename="b.bin"\r\n\r\n'), Buffer.alloc(3000, 7)]));
    expect(res.status).toBe(400);
    await stillServes();
  });

  it('a single-request upload one byte over ECHOFS_MAX_FILE_BYTES answers 413 and the server keeps serving', async () => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(MAX_FILE_BYTES + 1)]), 'big.bin');
    const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${alice.token}` } });
    const body = (await res.json()) as { error: { code: string } };
    expect(res.status).toBe(413);
    expect(body.error.code).toBe('file_too_large');
    await stillServes();
    const list = await stack.fetchJson('/api/v1/files', { token: alice.token });
    expect(list.body.data.map((f: { name: string }) => f.name)).not.toContain('big.bin');
  });

  it('a file of exactly ECHOFS_MAX_FILE_BYTES is still accepted', async () => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(MAX_FILE_BYTES)]), 'exact.bin');
    const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${alice.token}` } });
    expect(res.status).toBe(201);
  });
});

describe('bad input answers 4xx, never 5xx', () => {
  it('malformed percent-encoding in a path parameter answers 400', async () => {
    // The last one matches no route (the adapter decodes it while looking for one): still a 400.
    for (const path of ['/api/v1/files/%ZZ', '/api/v1/files/%E0%A4%A/download', '/api/v1/uploads/%/chunks/%zz', '/api/v1/uploads/%ZZ/']) {
      const r = await stack.fetchJson(path, { token: alice.token, method: path.includes('uploads') ? 'PUT' : 'GET' });
      expect(r.status, path).toBe(400);
      expect(r.body.error.code, path).toBe('invalid_path');
    }
    await stillServes();
  });
});
