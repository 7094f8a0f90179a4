/**
 * Catalog round trips of the data path, counted: every statement the storage engine sends through
 * the driver, with BEGIN and COMMIT of each transaction counted as one round trip each (as the RDS
 * Data API's BeginTransaction / CommitTransaction calls are). The counts are asserted so that a
 * change adding a statement to the hot path is seen; docs/benchmarks.md lists them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from '#shared/catalog/migrations.js';
import { schema, users } from '#shared/catalog/schema.js';
import type { Db } from '#shared/catalog/db.js';
import { StorageEngine } from '#shared/storage/engine.js';
import { MemoryObjectStore } from '#shared/storage/memory-store.js';
import { CHUNK_SIZE, describeBuffer } from '#shared/storage/codec.js';
import { HealthTracker } from '#shared/controller/health.js';
import { createHandler } from '#functions/files/handler.js';
import type { ApiEvent } from '#functions/_lib/api.js';
import type { Context } from 'aws-lambda';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];

interface Counter {
  statements: number;
  transactions: number;
  log: string[];
}
const counter: Counter = { statements: 0, transactions: 0, log: [] };
let client: PGlite;
let db: Db;

/** The PGlite client with every query (inside transactions too) and every transaction counted. */
function counting(c: PGlite): PGlite {
  const countQuery = <F extends (...a: never[]) => unknown>(target: object, fn: F) =>
    ((...args: Parameters<F>) => {
      const text = String(args[0]).replace(/\s+/g, ' ');
      // A straggling replica write marks its copy present after the response (background work,
      // sometimes inside the measured window): not part of the operation's round trips.
      if (!text.startsWith('update "chunk_placements" set "state"')) {
        counter.statements += 1;
        counter.log.push(text.slice(0, 120));
      }
      return (fn as unknown as (...a: unknown[]) => unknown).apply(target, args);
    }) as unknown as F;
  return new Proxy(c, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'query' || prop === 'exec') return countQuery(target, v as (...a: never[]) => unknown);
      if (prop === 'transaction') {
        return (cb: (tx: object) => Promise<unknown>) => {
          counter.transactions += 1;
          return target.transaction((tx) =>
            cb(
              new Proxy(tx, {
                get(t, p, r) {
                  const w = Reflect.get(t, p, r) as unknown;
                  return p === 'query' || p === 'exec' ? countQuery(t, w as (...a: never[]) => unknown) : typeof w === 'function' ? (w as () => unknown).bind(t) : w;
                },
              }),
            ),
          );
        };
      }
      return typeof v === 'function' ? (v as () => unknown).bind(target) : v;
    },
  });
}

beforeAll(async () => {
  client = new PGlite();
  await client.waitReady;
  db = drizzle({ client: counting(client), schema }) as unknown as Db;
  await migrate(db);
});
afterAll(async () => {
  await client?.close();
});

function engine(): StorageEngine {
  return new StorageEngine({
    db,
    stores: new Map(REGIONS.map((r) => [r, new MemoryObjectStore(r)])),
    config: { mode: 'C', maxFileBytes: 64 * CHUNK_SIZE, quotaBytes: 256 * CHUNK_SIZE, uploadTtlSeconds: 3600, replicaTimeoutMs: 2000 },
    health: new HealthTracker(),
    modeSource: { modeFor: async () => ({ mode: 'C', reason: 'test' }) },
  });
}

/** Round trips of one operation: statements plus BEGIN and COMMIT of each transaction. */
async function roundTrips<T>(op: () => Promise<T>): Promise<{ value: T; statements: number; transactions: number; roundTrips: number; log: string[] }> {
  counter.statements = 0;
  counter.transactions = 0;
  counter.log = [];
  const value = await op();
  return { value, statements: counter.statements, transactions: counter.transactions, roundTrips: counter.statements + 2 * counter.transactions, log: [...counter.log] };
}

async function newUser(): Promise<string> {
  const id = randomUUID();
  await db.insert(users).values({ id, username: `u${id.slice(0, 8)}`, email: `${id}@example.com`, passwordHash: 'x' });
  return id;
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

describe('catalog round trips per operation', () => {
  it('a small single-request upload, a session chunk, a session commit and a download', async () => {
    const e = engine();
    const owner = await newUser();
    // Warm up: the first write of an owner is no different, but keep the figure about steady state.
    await e.uploadStream(owner, { name: 'warm.bin' }, once(randomBytes(100)));

    const small = await roundTrips(() => e.uploadStream(owner, { name: 'small.bin' }, once(randomBytes(16 * 1024))));
    const overwrite = await roundTrips(() => e.uploadStream(owner, { name: 'small.bin' }, once(randomBytes(16 * 1024))));

    const data = randomBytes(2 * CHUNK_SIZE + 10);
    const d = describeBuffer(data);
    const s = await e.createSession(owner, { name: 'big.bin', size: data.length, sha256: d.sha256, chunks: d.chunks });
    const chunk0 = await roundTrips(() => e.putSessionChunk(owner, s.uploadId, d.chunks[0]!.hash, data.subarray(0, CHUNK_SIZE)));
    await e.putSessionChunk(owner, s.uploadId, d.chunks[1]!.hash, data.subarray(CHUNK_SIZE, 2 * CHUNK_SIZE));
    await e.putSessionChunk(owner, s.uploadId, d.chunks[2]!.hash, data.subarray(2 * CHUNK_SIZE));
    const commit = await roundTrips(() => e.commitSession(owner, s.uploadId));

    const download = await roundTrips(async () => {
      const r = await e.openRead(owner, small.value.fileId);
      for await (const piece of r.stream) void piece;
    });

    // The download route's sequence: the version resolved once for its checks (ETag, range), then read.
    const routeDownload = await roundTrips(async () => {
      const prepared = await e.prepareRead(owner, small.value.fileId);
      expect(prepared.file.size).toBe(16 * 1024);
      const r = await prepared.open({ range: { start: 100, end: 199 } });
      let n = 0;
      for await (const piece of r.stream) n += (piece as Buffer).length;
      expect(n).toBe(100);
    });

    const figures = {
      smallUpload: small.roundTrips,
      overwrite: overwrite.roundTrips,
      sessionChunk: chunk0.roundTrips,
      sessionCommit: commit.roundTrips,
      download: download.roundTrips,
      routeDownload: routeDownload.roundTrips,
    };
    expect(figures, [small, chunk0, commit, download, routeDownload].map((x) => x.log.join('\n')).join('\n---\n')).toEqual(EXPECTED);
  });
});

describe('the download route', () => {
  it('resolves the version once: 2 round trips for a download or a range, 1 for a 304', async () => {
    const e = engine();
    const owner = await newUser();
    const up = await e.uploadStream(owner, { name: 'route.bin' }, once(randomBytes(16 * 1024)));
    const handler = createHandler({
      storage: e,
      authenticator: { authenticate: async () => ({ id: owner, username: 'route', email: 'route@example.com', role: 'user' }) },
      catalog: { ping: async () => undefined },
    });
    const context = { awsRequestId: 'req-route', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
    const get = (headers: Record<string, string> = {}) =>
      handler(
        {
          version: '2.0',
          routeKey: 'GET /api/v1/files/{id}/download',
          rawPath: `/api/v1/files/${up.fileId}/download`,
          rawQueryString: '',
          headers: { authorization: 'Bearer t', ...headers },
          pathParameters: { id: up.fileId },
          requestContext: { requestId: 'r-route', http: { method: 'GET', path: `/api/v1/files/${up.fileId}/download` } },
          isBase64Encoded: false,
        } as unknown as ApiEvent,
        context,
      );
    const drained = async (headers?: Record<string, string>) => {
      const res = await get(headers);
      let n = 0;
      if (res.stream) for await (const piece of res.stream) n += (piece as Buffer).length;
      return { status: res.statusCode, bytes: n, etag: res.headers?.['ETag'] };
    };

    const whole = await roundTrips(() => drained());
    expect(whole.value).toMatchObject({ status: 200, bytes: 16 * 1024 });
    const range = await roundTrips(() => drained({ range: 'bytes=10-19' }));
    expect(range.value).toMatchObject({ status: 206, bytes: 10 });
    const cached = await roundTrips(() => drained({ 'if-none-match': String(whole.value.etag) }));
    expect(cached.value).toMatchObject({ status: 304, bytes: 0 });

    const log = [whole, range, cached].map((x) => x.log.join('\n')).join('\n---\n');
    expect({ download: whole.roundTrips, range: range.roundTrips, notModified: cached.roundTrips }, log).toEqual({ download: 2, range: 2, notModified: 1 });
  });
});

/**
 * History: a small upload took 18 round trips (14 statements in 2 transactions), then 7 (touch,
 * record, and a commit transaction of 3 statements); a session commit 15, then 8. Now a small
 * upload is 2: one statement to touch the chunk and read its placements before the replica PUTs,
 * and one statement after them that records the chunk with its copies and commits the version
 * (file, version, manifest, chunk touch, usage counter) under the owner's row lock, with If-Match
 * and the quota checked in it (no BEGIN/COMMIT round trips). A session commit is 4: session read,
 * copies check, placements for the answer's `ack`, and that one-statement commit. A session chunk
 * is 4 (session read, touch + placements, record, hash state stored by compare-and-set); a download
 * reads file and version in one statement and the manifest with its placements in another. The
 * download route resolved the version for its checks, then again to read it (3); it now reads the
 * version it resolved (prepareRead: 2).
 */
describe('usage as a running counter', () => {
  it('follows commits, overwrites, soft deletes and restores, equal to the sum of kept versions', async () => {
    const e = engine();
    const owner = await newUser();
    const sum = async () => {
      const r = await client.query<{ n: string }>(
        `select coalesce(sum(v.size), 0)::text as n from file_versions v join files f on f.id = v.file_id where f.owner_id = $1 and f.deleted_at is null and v.deleted_at is null`,
        [owner],
      );
      return Number(r.rows[0]?.n);
    };
    const used = async () => Number((await client.query<{ n: string }>(`select used_bytes::text as n from users where id = $1`, [owner])).rows[0]?.n);
    const a = await e.uploadStream(owner, { name: 'a' }, once(randomBytes(1000)));
    await e.uploadStream(owner, { name: 'a' }, once(randomBytes(3000)));
    await e.uploadStream(owner, { name: 'b' }, once(randomBytes(500)));
    expect(await used()).toBe(4500);
    await e.softDelete(owner, a.fileId);
    expect(await used()).toBe(500);
    await e.restore(owner, a.fileId);
    expect(await used()).toBe(4500);
    expect(await used()).toBe(await sum());
  });
});

const EXPECTED = { smallUpload: 2, overwrite: 2, sessionChunk: 4, sessionCommit: 4, download: 2, routeDownload: 2 };

describe('an upload session hashed across containers', () => {
  it('chunks sent out of order to different engines: the commit reads no chunk back and the digest is the SHA-256 of the bytes', async () => {
    // One set of replicas, three engines over it (three containers: no memory shared but the catalog).
    // A chunk gives up on the hash after 2 s without a move here (250 ms by default): the copies
    // land at once in memory, and a busy machine must not be taken for a predecessor not on its way.
    const stores = new Map(REGIONS.map((r) => [r, new MemoryObjectStore(r)]));
    const make = () =>
      new StorageEngine({
        db,
        stores,
        sessionHash: { graceMs: 2000 },
        config: { mode: 'C', maxFileBytes: 64 * CHUNK_SIZE, quotaBytes: 256 * CHUNK_SIZE, uploadTtlSeconds: 3600, replicaTimeoutMs: 5000 },
        health: new HealthTracker(),
        modeSource: { modeFor: async () => ({ mode: 'C', reason: 'test' }) },
      });
    const engines = [make(), make(), make()];
    const owner = await newUser();
    const data = randomBytes(6 * CHUNK_SIZE + 123);
    const d = describeBuffer(data);
    const s = await engines[0]!.createSession(owner, { name: 'ooo.bin', size: data.length, sha256: d.sha256, chunks: d.chunks });
    const body = (i: number) => data.subarray(i * CHUNK_SIZE, Math.min(data.length, (i + 1) * CHUNK_SIZE));
    // Chunks 6, 4, 5 first (all in flight at once, ahead of the hashed prefix), then 2, 3, 1, 0: each
    // on another engine, as a client with several PUTs in flight spreads them over containers.
    const first = [6, 4, 5].map((i) => engines[i % 3]!.putSessionChunk(owner, s.uploadId, d.chunks[i]!.hash, body(i)));
    const second = [2, 3, 1, 0].map((i) => engines[i % 3]!.putSessionChunk(owner, s.uploadId, d.chunks[i]!.hash, body(i)));
    await Promise.all([...first, ...second]);
    for (const e of engines) await e.drain();

    const getsBefore = [...stores.values()].reduce((n, st) => n + st.gets, 0);
    const info = await engines[1]!.commitSession(owner, s.uploadId);
    const getsAtCommit = [...stores.values()].reduce((n, st) => n + st.gets, 0) - getsBefore;
    expect(getsAtCommit).toBe(0);
    expect(getsBefore).toBe(0); // nor did the chunk PUTs read anything: every byte was hashed as it arrived
    expect(info.sha256).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('a session whose first chunks were stored before (resume, dedupe) still commits without reading back', async () => {
    const e = engine();
    const owner = await newUser();
    const data = randomBytes(3 * CHUNK_SIZE);
    const d = describeBuffer(data);
    // Chunks 0 and 1 already stored by an earlier upload of the owner.
    await e.uploadStream(owner, { name: 'earlier.bin' }, once(data.subarray(0, 2 * CHUNK_SIZE)));
    const s = await e.createSession(owner, { name: 'resumed.bin', size: data.length, sha256: d.sha256, chunks: d.chunks });
    expect(s.missing).toEqual([d.chunks[2]!.hash]);
    await e.putSessionChunk(owner, s.uploadId, d.chunks[2]!.hash, data.subarray(2 * CHUNK_SIZE));
    const info = await e.commitSession(owner, s.uploadId);
    expect(info.sha256).toBe(d.sha256);
  });
});
