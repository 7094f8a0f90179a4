/**
 * The local replicas acknowledge a PUT only once the object is in place (infra/local/s3rver-durable.ts).
 * s3rver's own filesystem store answers while the file is still being written; with the fix, when
 * putObject resolves the file on disk holds every byte, an overwrite replaces the old copy whole, and
 * no temporary file is left behind. Also end to end: a read right after each acknowledged overwrite
 * through the S3 API returns exactly the bytes just written. And a silent replica builds no request
 * log line (dropRequestLog) and still answers.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import S3rver from 's3rver';
import { createReplicaStores } from '#shared/storage/s3-store.js';
import { dropRequestLog, makeS3rverPutsDurable } from '#local/s3rver-durable.js';
import { startS3rvers, type S3Fixture } from './files-fixtures.js';

interface Store {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putObject(o: { bucket: string; key: string; content: Buffer; metadata: Record<string, string> }): Promise<{ size: number; md5: string }>;
}
const FilesystemStore = createRequire(import.meta.url)('s3rver/lib/stores/filesystem.js') as new (dir: string) => Store;

const REGION = 'us-east-1';
let fx: S3Fixture;

beforeAll(async () => {
  makeS3rverPutsDurable();
  fx = await startS3rvers([REGION], 30_000);
});
afterAll(async () => {
  await fx?.stop();
});

describe('local replica writes', () => {
  it('putObject resolves only when the object file holds every byte, old copy replaced whole, no temporary file left', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'echofs-s3rver-store-'));
    try {
      const store = new FilesystemStore(dir);
      const path = store.getResourcePath('b', 'k/obj', 'object');
      for (let i = 0; i < 3; i++) {
        const body = randomBytes(32 * 1024 * 1024);
        const out = await store.putObject({ bucket: 'b', key: 'k/obj', content: body, metadata: { 'content-type': 'application/octet-stream' } });
        expect(out.size).toBe(body.length);
        const onDisk = await readFile(path);
        expect(onDisk.length, `write ${i}: bytes on disk when putObject resolved`).toBe(body.length);
        expect(onDisk.equals(body), `write ${i}: content on disk`).toBe(true);
      }
      const left = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.tmp'));
      expect(left, 'temporary files left').toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a read right after each acknowledged overwrite through the S3 API returns exactly the bytes just written', async () => {
    const store = fx.stores.get(REGION)!;
    for (let i = 0; i < 4; i++) {
      const body = randomBytes(8 * 1024 * 1024);
      await store.put('durable/overwritten', body);
      const got = await store.get('durable/overwritten');
      expect(got?.length, `overwrite ${i}: length read back`).toBe(body.length);
      expect(got?.equals(body), `overwrite ${i}: bytes read back`).toBe(true);
    }
    const left = (await readdir(fx.directory, { recursive: true })).filter((f) => f.endsWith('.tmp'));
    expect(left, 'temporary files left in the replica').toEqual([]);
  });

  it('a silent replica builds no request log line: the request-log middleware is dropped before it starts, and the replica still answers writes, reads and missing keys', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'echofs-s3rver-quiet-'));
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: 'quiet' }] });
    const names = () => server.middleware.map((fn) => (typeof fn === 'function' ? fn.name : typeof fn));
    try {
      expect(names(), "s3rver's own middleware list names its request log 'logger'").toContain('logger');
      expect(dropRequestLog(server)).toBe(true);
      expect(names()).not.toContain('logger');
      expect(dropRequestLog(server), 'nothing left to drop').toBe(false);
      const addr = await server.run();
      const store = createReplicaStores({ regions: [REGION], buckets: { [REGION]: 'quiet' }, s3Endpoints: { [REGION]: `http://127.0.0.1:${addr.port}` }, replicaTimeoutMs: 30_000 }).get(REGION)!;
      const body = randomBytes(256 * 1024);
      await store.put('quiet/object', body);
      expect((await store.get('quiet/object'))?.equals(body), 'bytes read back').toBe(true);
      expect(await store.get('quiet/absent'), 'a missing key reads as absent').toBeUndefined();
    } finally {
      const closed = server.close();
      server.httpServer?.closeAllConnections();
      await closed;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
