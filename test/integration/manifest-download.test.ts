/**
 * The web app's large-download path against the whole local stack: the real manifest route, the
 * presigned URLs it signs (s3rver behind the fault proxies, CORS as in the cloud), and the chunks
 * as the storage engine stored them (raw and deflate-raw). The download module runs here as it
 * runs in the browser: fetch, WebCrypto, DecompressionStream, Blob.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../web/src/api.js';
import { downloadFile, downloadFromManifest } from '../../web/src/download.js';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';

let stack: TestStack;
let alice: TestUser;

beforeAll(async () => {
  stack = await startTestStack({}, { schedules: false });
  alice = await stack.register();
});
afterAll(async () => {
  await stack?.stop();
});

async function upload(token: string, name: string, data: Buffer): Promise<string> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(data)]), name);
  const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}` } });
  const body = (await res.json()) as { data: { file_id: string } };
  expect(res.status).toBe(201);
  return body.data.file_id;
}

describe('large downloads from the manifest on the local stack', () => {
  it('assembles a file of raw and compressed chunks from presigned URLs, byte for byte', async () => {
    // 2.5 MiB: a random (raw) chunk, a compressible (deflated) one, and a partial last one.
    const data = Buffer.concat([randomBytes(1024 * 1024), Buffer.alloc(1024 * 1024, 'abc'), randomBytes(512 * 1024)]);
    const id = await upload(alice.token, 'mixed.bin', data);
    const api = createApi({ baseUrl: stack.url, getToken: () => alice.token });
    const manifest = await api.manifest(id);
    expect(manifest.chunks.map((c) => c.compressed)).toEqual([false, true, false]);
    const progress: number[] = [];
    const got = await downloadFromManifest(api, id, { onProgress: (done) => progress.push(done) });
    const bytes = Buffer.from(await got.blob.arrayBuffer());
    expect(bytes.length).toBe(data.length);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(got.filename).toBe('mixed.bin');
    expect(progress.at(-1)).toBe(data.length);
  });

  it('chooses the manifest for a file above the stream limit, and the stream below it', async () => {
    const data = randomBytes(300_000);
    const id = await upload(alice.token, 'limit.bin', data);
    const api = createApi({ baseUrl: stack.url, getToken: () => alice.token });
    const viaManifest = await downloadFile(api, id, { size: data.length, streamLimit: 100_000 });
    expect(viaManifest.via).toBe('manifest');
    expect(Buffer.from(await viaManifest.blob.arrayBuffer()).equals(data)).toBe(true);
    const viaStream = await downloadFile(api, id, { size: data.length });
    expect(viaStream.via).toBe('stream');
    expect(Buffer.from(await viaStream.blob.arrayBuffer()).equals(data)).toBe(true);
  });

  it('serves the presigned chunk URLs with the CORS answer a browser needs', async () => {
    const id = await upload(alice.token, 'cors.bin', randomBytes(1000));
    const api = createApi({ baseUrl: stack.url, getToken: () => alice.token });
    const [chunk] = (await api.manifest(id)).chunks;
    const res = await fetch(chunk!.url!, { headers: { origin: 'http://localhost:8080' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
  });
});
