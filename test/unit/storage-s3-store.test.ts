import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { startS3rvers, type S3Fixture } from '../integration/files-fixtures.js';
import { S3ObjectStore, ReplicaError } from '#shared/storage/s3-store.js';
import type { FinalizeRequestMiddleware, MetadataBearer } from '@smithy/types';
import { createS3Client, payloadSha256 } from '#shared/clients.js';

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
    const store = new S3ObjectStore({ region: 'us-east-1', bucket: 'echofs-x', client });
    const err = await store.get('k').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplicaError);
    expect((err as Error).message).toContain('us-east-1');
  });

  it('runs concurrent calls through one cached middleware stack per command, each with its own body', async () => {
    const store = fx.stores.get('us-east-1')!;
    const bodies = Array.from({ length: 24 }, (_, i) => randomBytes(1000 + i));
    await Promise.all(bodies.map((b, i) => store.put(`chunks/conc/${i}`, b)));
    const back = await Promise.all(bodies.map((_, i) => store.get(`chunks/conc/${i}`)));
    back.forEach((b, i) => expect(b?.equals(bodies[i]!), `object ${i}`).toBe(true));
    // The SDK keeps its per-command handler cache only while no call passes per-call options,
    // so its presence after puts and gets proves that the store passes none.
    const client = (store as unknown as { client: { handlers?: WeakMap<object, unknown> } }).client;
    expect(client.handlers?.has(PutObjectCommand)).toBe(true);
    expect(client.handlers?.has(GetObjectCommand)).toBe(true);
  });
});

describe('the payload hash a PUT is signed with', () => {
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

  it('is the SHA-256 of the body, computed once per body object (the same stored chunk goes to every replica)', () => {
    const body = randomBytes(4096);
    const first = payloadSha256(body);
    expect(first).toBe(sha(body));
    // A second call answers from the memo without reading the bytes again: proven by changing them.
    const original = Buffer.from(body);
    body[0] = (body[0] ?? 0) ^ 0xff;
    expect(payloadSha256(body)).toBe(first);
    // Another object with other bytes is hashed on its own.
    expect(payloadSha256(original)).toBe(sha(original));
  });

  it('is the header each region client signs, and every replica stores the body intact', async () => {
    const body = randomBytes(70_000);
    const sent: string[] = [];
    for (const region of ['us-east-1', 'eu-west-1'] as const) {
      const client = createS3Client({ region, endpoint: fx.endpoints[region], timeoutMs: 5000 });
      const capture: FinalizeRequestMiddleware<object, MetadataBearer> = (next) => async (args) => {
        const request = args.request as { method: string; headers: Record<string, string> };
        if (request.method === 'PUT') sent.push(String(request.headers['x-amz-content-sha256']));
        return next(args);
      };
      client.middlewareStack.addRelativeTo(capture, { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'capturePayloadHash' });
      const store = new S3ObjectStore({ region, bucket: fx.buckets[region]!, client });
      await store.put('chunks/hash/once', body);
      expect((await store.get('chunks/hash/once'))?.equals(body), region).toBe(true);
      client.destroy();
    }
    expect(sent).toEqual([sha(body), sha(body)]);
  });
});

describe('S3ObjectStore deadlines and cancellation', () => {
  // A replica that accepts connections and never answers.
  let silent: Server;
  let port = 0;
  const sockets = new Set<Socket>();
  const received: string[] = [];
  beforeAll(async () => {
    silent = createServer((s) => {
      sockets.add(s);
      s.on('data', (d) => received.push(d.toString('latin1').split('\r\n')[0] ?? ''));
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    port = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  });

  function storeWithDeadline(timeoutMs: number): S3ObjectStore {
    const client = createS3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, timeoutMs });
    return new S3ObjectStore({ region: 'us-east-1', bucket: 'echofs-silent', client });
  }

  it('fails a PUT that gets no answer within the client deadline, naming the region', async () => {
    const store = storeWithDeadline(300);
    const err = await store.put('chunks/t/slow', Buffer.from('x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReplicaError);
    expect((err as Error).message).toMatch(/us-east-1: put failed/);
    expect(received.some((l) => l.startsWith('PUT /echofs-silent/chunks/t/slow'))).toBe(true);
  });

  it("cancels a GET when the caller's signal aborts, long before the deadline", async () => {
    const store = storeWithDeadline(600_000);
    const caller = new AbortController();
    const before = received.length;
    const outcome = store.get('chunks/t/hang', caller.signal).then(
      () => 'answered',
      (e: unknown) => e,
    );
    await vi.waitFor(() => expect(received.slice(before).some((l) => l.startsWith('GET /echofs-silent/chunks/t/hang'))).toBe(true));
    caller.abort();
    const err = await outcome;
    expect(err).toBeInstanceOf(ReplicaError);
    expect((err as Error).message).toMatch(/us-east-1: get failed/);
  });
});
