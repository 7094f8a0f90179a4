/**
 * The client side of `npm run bench:io`: the floor (one replica's raw PutObject / GetObject
 * throughput, the S3 client straight to one emulator) and EchoFS's end-to-end transfers (a chunked
 * upload and a streamed, verified download over HTTP), both measured by the same client code in the
 * same process, so that the ratio compares like with like. io.ts runs it in its own process
 * (`here`: the client's hashing, cipher and socket work share the server's thread), or forks this
 * file (`startIoClientApart`) so that the client runs beside the server as a deployment's clients
 * do; the parent then asks for one measurement at a time over IPC.
 *
 * Nothing holds a whole file: the file's bytes are generated chunk by chunk from a seed (AES-CTR,
 * so incompressible, like media) and regenerated when a chunk is sent; downloads are hashed as
 * they stream.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '#shared/clients.js';
import { mapLimit } from '#shared/concurrency.js';
import { DOWNLOAD_TOKEN_HEADER } from '#shared/downloads.js';
import { serveBenchWorker, startBenchWorker } from './child.js';

const MiB = 1024 * 1024;
const CHUNK = MiB;

export interface IoTarget {
  /** EchoFS's URL and a signed-in user's token. */
  url: string;
  token: string;
  /** One replica, reached directly, for the floor. */
  replica: { region: string; endpoint: string; bucket: string };
  /** Chunk PUTs (and the floor's PUTs / GETs) in flight. */
  concurrency: number;
}

export interface RawResult {
  putMiBps: number;
  getMiBps: number;
}

export interface RoundTrip {
  upMiBps: number;
  downMiBps: number;
}

export interface IoClient {
  /** The floor: `objects` 1 MiB objects PUT, then GET, `concurrency` in flight. */
  raw(objects: number): Promise<RawResult>;
  /** Upload a generated file of `size` bytes to EchoFS, download it and check its bytes. */
  roundTrip(size: number, name: string): Promise<RoundTrip>;
  close(): Promise<void>;
}

// ------------------------------------------------------------------ deterministic file content

/** Chunk `index` of the file with this seed: `len` bytes of AES-256-CTR keystream. */
export function chunkOf(seed: string, index: number, len: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(index, 0);
  return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(len));
}

function chunkLengths(size: number): number[] {
  const out: number[] = [];
  for (let off = 0; off < size; off += CHUNK) out.push(Math.min(CHUNK, size - off));
  return out;
}

/** The manifest of a generated file, computed chunk by chunk (one chunk in memory at a time). */
export function describe(seed: string, size: number): { sha256: string; chunks: { hash: string; size: number }[] } {
  const whole = createHash('sha256');
  const chunks = chunkLengths(size).map((len, i) => {
    const c = chunkOf(seed, i, len);
    whole.update(c);
    return { hash: createHash('sha256').update(c).digest('hex'), size: len };
  });
  return { sha256: whole.digest('hex'), chunks };
}

const mibps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);

// ------------------------------------------------------------------ the client

/**
 * The client in this process. Its HTTP transport is node:http over kept-alive sockets, the same
 * transport the S3 client of the floor uses (fetch would add its WHATWG stream layer and a copy of
 * every request body to EchoFS's figures, not to the floor's).
 */
export function ioClient(t: IoTarget): IoClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const s3 = createS3Client({ region: t.replica.region, endpoint: t.replica.endpoint, timeoutMs: 60_000 });
  let files = 0;

  const send = (url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<IncomingMessage> =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = { authorization: `Bearer ${t.token}`, ...(init.headers ?? {}) };
      if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
      const req = httpRequest(url, { method: init.method ?? 'GET', headers, agent }, resolve);
      req.on('error', reject);
      req.end(init.body);
    });

  const call = async (url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<Record<string, unknown>> => {
    const res = await send(url, init);
    const parts: Buffer[] = [];
    for await (const p of res) parts.push(p as Buffer);
    const text = Buffer.concat(parts).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw new Error(`${init.method ?? 'GET'} ${new URL(url).pathname}: HTTP ${status} ${text.slice(0, 300)}`);
    const body = (text ? JSON.parse(text) : {}) as { data?: Record<string, unknown> };
    return body.data ?? {};
  };

  const upload = async (seed: string, size: number, name: string): Promise<{ fileId: string; ms: number; sha256: string }> => {
    const t0 = performance.now();
    const manifest = describe(seed, size);
    const session = await call(`${t.url}/api/v1/uploads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, size, sha256: manifest.sha256, chunks: manifest.chunks }),
    });
    const uploadId = String(session.upload_id);
    const missing = new Set((session.missing as string[] | undefined) ?? []);
    const todo = manifest.chunks.map((c, i) => ({ ...c, i })).filter((c) => missing.has(c.hash));
    await mapLimit(todo, t.concurrency, async (c) => {
      const body = chunkOf(seed, c.i, c.size);
      await call(`${t.url}/api/v1/uploads/${uploadId}/chunks/${c.hash}`, { method: 'PUT', headers: { 'content-type': 'application/octet-stream' }, body });
    });
    const file = await call(`${t.url}/api/v1/uploads/${uploadId}/commit`, { method: 'POST' });
    return { fileId: String(file.file_id ?? file.id), ms: performance.now() - t0, sha256: manifest.sha256 };
  };

  const download = async (fileId: string, expect: { size: number; sha256: string }): Promise<number> => {
    const t0 = performance.now();
    const res = await send(`${t.url}/api/v1/files/${fileId}/download`, { headers: { [DOWNLOAD_TOKEN_HEADER]: `Bearer ${t.token}` } });
    if (res.statusCode !== 200) {
      const parts: Buffer[] = [];
      for await (const p of res) parts.push(p as Buffer);
      throw new Error(`download: HTTP ${res.statusCode} ${Buffer.concat(parts).toString('utf8').slice(0, 300)}`);
    }
    const h = createHash('sha256');
    let n = 0;
    for await (const piece of res as AsyncIterable<Buffer>) {
      h.update(piece);
      n += piece.length;
    }
    const ms = performance.now() - t0;
    const sha = h.digest('hex');
    if (n !== expect.size || sha !== expect.sha256) throw new Error(`download mismatch: ${n} bytes, sha ${sha.slice(0, 12)} (expected ${expect.size}, ${expect.sha256.slice(0, 12)})`);
    return ms;
  };

  return {
    async raw(objects) {
      const keys = Array.from({ length: objects }, (_, i) => `bench/raw-${process.pid}-${i}`);
      let t0 = performance.now();
      await mapLimit(keys, t.concurrency, async (key) => {
        const body = chunkOf(`raw-${key}`, 0, CHUNK);
        await s3.send(new PutObjectCommand({ Bucket: t.replica.bucket, Key: key, Body: body, ContentLength: body.length }));
      });
      const putMs = performance.now() - t0;
      t0 = performance.now();
      await mapLimit(keys, t.concurrency, async (key) => {
        const res = await s3.send(new GetObjectCommand({ Bucket: t.replica.bucket, Key: key }));
        let n = 0;
        for await (const piece of res.Body as AsyncIterable<Uint8Array>) n += piece.length;
        if (n !== CHUNK) throw new Error(`raw GET returned ${n} bytes`);
      });
      const getMs = performance.now() - t0;
      return { putMiBps: mibps(objects * CHUNK, putMs), getMiBps: mibps(objects * CHUNK, getMs) };
    },
    async roundTrip(size, name) {
      const seed = `bench-${process.pid}-${files++}-${Date.now()}`;
      const up = await upload(seed, size, name);
      const downMs = await download(up.fileId, { size, sha256: up.sha256 });
      return { upMiBps: mibps(size, up.ms), downMiBps: mibps(size, downMs) };
    },
    async close() {
      agent.destroy();
      s3.destroy();
    },
  };
}

// ------------------------------------------------------------------ the client in a process of its own

type Question = { raw: number } | { roundTrip: { size: number; name: string } };

/** The client forked into a process of its own; the same interface, over IPC. */
export async function startIoClientApart(t: IoTarget): Promise<IoClient & { pid: number }> {
  const w = await startBenchWorker<Question, RawResult | RoundTrip>(fileURLToPath(import.meta.url), t, 'the client process');
  return {
    pid: w.pid,
    raw: async (objects) => (await w.ask({ raw: objects })) as RawResult,
    roundTrip: async (size, name) => (await w.ask({ roundTrip: { size, name } })) as RoundTrip,
    close: w.stop,
  };
}

function host(): void {
  const client = ioClient(JSON.parse(process.argv[2] as string) as IoTarget);
  serveBenchWorker<Question, RawResult | RoundTrip>(
    (m) => ('raw' in m ? client.raw(m.raw) : client.roundTrip(m.roundTrip.size, m.roundTrip.name)),
    () => client.close(),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) host();
