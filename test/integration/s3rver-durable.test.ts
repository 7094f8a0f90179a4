/**
 * The local replicas acknowledge a PUT only once the object is in place, and write every file whole
 * (infra/local/s3rver-durable.ts). s3rver's own filesystem store answers while the file is still
 * being written and rewrites the MD5 and metadata files in place; with the fix, when putObject
 * resolves the file on disk holds every byte, an overwrite replaces the old copy whole, a reader of
 * the metadata never sees it empty or cut short, and the temporary files live beside the store
 * (none left behind). Also end to end: a read right after each acknowledged overwrite through the
 * S3 API returns exactly the bytes just written. A delete never reads the object's folder (s3rver
 * listed it synchronously, the event loop stopped for as long). A silent replica builds no request log line
 * (dropRequestLog) and still answers. HeadBucket answers from the bucket's directory, without the
 * listing s3rver runs for it (answerHeadBucketDirectly).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HeadBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { createReplicaStores } from '#shared/storage/s3-store.js';
import { answerHeadBucketDirectly, dropRequestLog, makeS3rverPutsDurable, partialDir } from '#local/s3rver-durable.js';
import { startS3rvers, type S3Fixture } from './files-fixtures.js';

interface Store {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putObject(o: { bucket: string; key: string; content: Buffer; metadata: Record<string, string> }): Promise<{ size: number; md5: string }>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5: string): Promise<void>;
  deleteObject(bucket: string, key: string): Promise<void>;
}
const require = createRequire(import.meta.url);
const FilesystemStore = require('s3rver/lib/stores/filesystem.js') as new (dir: string) => Store;
/** The file system module s3rver's store calls (fs-extra, as s3rver resolves it). */
const s3rverFs = createRequire(require.resolve('s3rver/lib/stores/filesystem.js'))('fs-extra') as { readdirSync: (path: string) => string[] };

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
      // The store's root is a directory of the temp dir, so its partial directory (beside the root) is in the temp dir too.
      const root = join(dir, 'store');
      const store = new FilesystemStore(root);
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
      expect(await readdir(partialDir(root)), 'the partial directory, beside the root, is empty once the writes are done').toEqual([]);
      expect(await readdir(root), 'nothing but the bucket in the root (s3rver takes every directory there for a bucket)').toEqual(['b']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes the MD5 and metadata files whole: a reader polling them through 300 overwrites never finds one empty or cut short', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'echofs-s3rver-meta-'));
    try {
      const store = new FilesystemStore(join(dir, 'store'));
      const metaPath = store.getResourcePath('b', 'k/obj', 'metadata.json');
      const md5Path = store.getResourcePath('b', 'k/obj', 'object.md5');
      await store.putObject({ bucket: 'b', key: 'k/obj', content: randomBytes(1024), metadata: { 'content-type': 'application/octet-stream' } });
      let writing = true;
      const seen: string[] = [];
      const reader = (async () => {
        let reads = 0;
        while (writing) {
          const [meta, md5] = await Promise.all([readFile(metaPath, 'utf8'), readFile(md5Path, 'utf8')]);
          reads++;
          try {
            JSON.parse(meta);
          } catch {
            seen.push(`metadata ${JSON.stringify(meta)}`);
          }
          if (!/^[0-9a-f]{32}$/.test(md5)) seen.push(`md5 ${JSON.stringify(md5)}`);
        }
        return reads;
      })();
      for (let i = 0; i < 300; i++) {
        const md5 = createHash('md5').update(String(i)).digest('hex');
        await store.putMetadata('b', 'k/obj', { 'content-type': 'application/octet-stream', 'x-amz-meta-round': String(i).repeat(200) }, md5);
      }
      writing = false;
      const reads = await reader;
      expect(reads, 'the reader ran beside the writes').toBeGreaterThan(10);
      expect(seen.slice(0, 5), `${seen.length} of ${reads} reads found a file not whole`).toEqual([]);
      // What s3rver keeps of the metadata: its allowed headers and x-amz-meta-*, nothing else.
      await store.putMetadata('b', 'k/obj', { 'content-type': 'text/plain', 'x-amz-meta-a': '1', 'x-amz-unknown': 'dropped' }, 'f'.repeat(32));
      expect(JSON.parse(await readFile(metaPath, 'utf8'))).toEqual({ 'content-type': 'text/plain', 'x-amz-meta-a': '1' });
      expect(await readdir(partialDir(join(dir, 'store')))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('deletes an object without reading its folder: its three files go, and the folders it leaves empty up to the bucket, a folder with other objects stays', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'echofs-s3rver-delete-'));
    const readdirSync = vi.spyOn(s3rverFs, 'readdirSync');
    try {
      const root = join(dir, 'store');
      const store = new FilesystemStore(root);
      const put = (key: string) => store.putObject({ bucket: 'b', key, content: randomBytes(100), metadata: {} });
      await put('chunks/alice/one');
      await put('chunks/alice/two');
      await put('chunks/bob/only');
      await store.deleteObject('b', 'chunks/alice/one');
      expect(await readdir(join(root, 'b', 'chunks', 'alice')), 'the other object of the folder and its files').toEqual(['two._S3rver_metadata.json', 'two._S3rver_object', 'two._S3rver_object.md5']);
      await store.deleteObject('b', 'chunks/bob/only');
      expect(await readdir(join(root, 'b', 'chunks')), 'the emptied folder is gone, its parent with another folder stays').toEqual(['alice']);
      await store.deleteObject('b', 'chunks/alice/two');
      expect(await readdir(root), 'every folder under the bucket emptied and gone, the bucket kept').toEqual(['b']);
      expect(await readdir(join(root, 'b'))).toEqual([]);
      expect(readdirSync, "a delete lists no folder (s3rver's own read it whole, synchronously)").not.toHaveBeenCalled();
      // A put into a folder a delete has just removed makes it again.
      await put('chunks/alice/three');
      expect(await readdir(join(root, 'b', 'chunks', 'alice'))).toHaveLength(3);
    } finally {
      readdirSync.mockRestore();
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
  it('answers HeadBucket from the bucket directory alone: 200 while a torn metadata file makes the listing fail, 404 for a missing bucket', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'echofs-s3rver-head-'));
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: join(dir, 'store'), configureBuckets: [{ name: 'full' }] });
    dropRequestLog(server);
    answerHeadBucketDirectly(server);
    const addr = await server.run();
    const client = new S3Client({ region: REGION, endpoint: `http://127.0.0.1:${addr.port}`, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    try {
      const store = createReplicaStores({ regions: [REGION], buckets: { [REGION]: 'full' }, s3Endpoints: { [REGION]: `http://127.0.0.1:${addr.port}` }, replicaTimeoutMs: 30_000 }).get(REGION)!;
      for (let i = 0; i < 20; i++) await store.put(`objects/${i}`, randomBytes(64));
      // What a crash in the middle of an in-place metadata write left: s3rver's listing then fails.
      const fsStore = new FilesystemStore(join(dir, 'store'));
      await writeFile(fsStore.getResourcePath('full', 'objects/7', 'metadata.json'), '{"content-ty');
      await expect(client.send(new ListObjectsV2Command({ Bucket: 'full' })), 'the listing reads every metadata file').rejects.toThrow();
      const head = await client.send(new HeadBucketCommand({ Bucket: 'full' }));
      expect(head.$metadata.httpStatusCode).toBe(200);
      await expect(client.send(new HeadBucketCommand({ Bucket: 'absent' }))).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
      // Everything else still goes through s3rver: an object read, a missing key.
      expect((await store.get('objects/3'))?.length).toBe(64);
      expect(await store.get('objects/none')).toBeUndefined();
    } finally {
      client.destroy();
      const closed = server.close();
      server.httpServer?.closeAllConnections();
      await closed;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
