import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startS3rvers, type S3Fixture } from '../integration/files-fixtures.js';
import { S3ObjectStore, ReplicaError } from '#shared/storage/s3-store.js';
import { createS3Client } from '#shared/clients.js';

let fx: S3Fixture;
beforeAll(async () => {
  fx = await startS3rvers(['us-east-1', 'eu-west-1']);
});
afterAll(async () => {
  await fx?.stop();
});

describe('S3ObjectStore over s3rver', () => {
  it('round-trips 300000 random bytes byte-exactly (no aws-chunked framing stored)', async () => {
    const store = fx.stores.get('us-east-1')!;
    const body = randomBytes(300_000);
    await store.put('chunks/t/a', body);
    const back = await store.get('chunks/t/a');
    expect(back?.length).toBe(300_000);
    expect(back?.equals(body)).toBe(true);
  });

  it('returns undefined for a missing key and exists() tells the truth', async () => {
    const store = fx.stores.get('eu-west-1')!;
    expect(await store.get('chunks/none/x')).toBeUndefined();
    expect(await store.exists('chunks/none/x')).toBe(false);
    await store.put('chunks/t/b', Buffer.from('x'));
    expect(await store.exists('chunks/t/b')).toBe(true);
    await store.delete('chunks/t/b');
    expect(await store.exists('chunks/t/b')).toBe(false);
    await store.delete('chunks/t/b'); // idempotent
  });

  it('lists keys under a prefix with sizes', async () => {
    const store = fx.stores.get('eu-west-1')!;
    await store.put('chunks/list/1', Buffer.alloc(10));
    await store.put('chunks/list/2', Buffer.alloc(20));
    const seen: Record<string, number> = {};
    for await (const o of store.list('chunks/list/')) seen[o.key] = o.size;
    expect(seen).toEqual({ 'chunks/list/1': 10, 'chunks/list/2': 20 });
  });

  it('presigns a GET URL that serves the object', async () => {
    const store = fx.stores.get('us-east-1')!;
    await store.put('chunks/t/p', Buffer.from('presigned'));
    const url = await store.presignGet('chunks/t/p', 60);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).toString()).toBe('presigned');
  });

  it('fails with a ReplicaError naming the region when the replica is unreachable', async () => {
    const client = createS3Client({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1', timeoutMs: 500 });
    const store = new S3ObjectStore({ region: 'us-east-1', bucket: 'echofs-x', client, timeoutMs: 500 });
    const err = await store.get('k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplicaError);
    expect((err as Error).message).toContain('us-east-1');
  });
});
