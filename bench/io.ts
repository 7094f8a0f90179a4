/**
 * `npm run bench:io`: end-to-end upload and download throughput of 1, 10 and 100 MiB files through
 * the whole local stack over HTTP (chunk sessions, parallel chunk PUTs, streamed download), beside
 * one emulator replica's raw PUT/GET throughput (the S3 client straight against one s3rver) in the
 * same run, and the peak RSS of the process (the stack runs in-process).
 *
 * Nothing holds a whole file: the file's bytes are generated chunk by chunk from a seed (AES-CTR,
 * so incompressible, like media) and regenerated when a chunk is sent; downloads are hashed as
 * they stream. Memory should therefore stay flat as files grow.
 *
 * Options (environment): BENCH_SIZES_MIB (default "1,10,100"), BENCH_CONCURRENCY (chunk PUTs in
 * flight, default 4), BENCH_REGIONS (default the three default regions), BENCH_DATABASE_URL (a
 * PostgreSQL server: the catalog is a scratch database there, dropped at the end; default the
 * embedded catalog), BENCH_EMULATORS=apart (the emulators in a process of their own,
 * ./replica-host.ts, for the stack and for the raw replica alike; the RSS is then this process's
 * without them).
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { EchoClient } from './client.js';
import { startEmulatorsApart } from './replica-host.js';
import { createTestDatabase } from '../test/helpers/databases.js';
import { DOWNLOAD_TOKEN_HEADER } from '#shared/downloads.js';

process.env.ECHOFS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const MiB = 1024 * 1024;
const CHUNK = MiB;
const SIZES = (process.env.BENCH_SIZES_MIB ?? '1,10,100').split(',').map((s) => Number(s.trim()));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;
const EMULATORS = process.env.BENCH_EMULATORS ?? 'here';
if (EMULATORS !== 'here' && EMULATORS !== 'apart') throw new Error(`BENCH_EMULATORS must be here or apart (got '${EMULATORS}')`);
const APART = EMULATORS === 'apart';
if (DATABASE_URL !== undefined && !/^postgres(ql)?:\/\//.test(DATABASE_URL)) throw new Error('BENCH_DATABASE_URL must start with postgres:// or postgresql://');
/** Repetitions per size: small files are repeated so that one hiccup does not decide the figure. */
const repsFor = (mib: number) => (mib <= 1 ? 5 : mib <= 10 ? 2 : 1);

// ------------------------------------------------------------------ deterministic file content

/** Chunk `index` of the file with this seed: `len` bytes of AES-256-CTR keystream. */
function chunkOf(seed: string, index: number, len: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(index, 0);
  return createCipheriv('aes-256-ctr', key, iv).update(Buffer.alloc(len));
}

interface FileSpec {
  seed: string;
  size: number;
}

function chunkLengths(size: number): number[] {
  const out: number[] = [];
  for (let off = 0; off < size; off += CHUNK) out.push(Math.min(CHUNK, size - off));
  return out;
}

/** The manifest of a generated file, computed chunk by chunk (one chunk in memory at a time). */
function describe(f: FileSpec): { sha256: string; chunks: { hash: string; size: number }[] } {
  const whole = createHash('sha256');
  const chunks = chunkLengths(f.size).map((len, i) => {
    const c = chunkOf(f.seed, i, len);
    whole.update(c);
    return { hash: createHash('sha256').update(c).digest('hex'), size: len };
  });
  return { sha256: whole.digest('hex'), chunks };
}

// ------------------------------------------------------------------ memory sampling

class RssSampler {
  private peak = 0;
  private first = 0;
  private timer: NodeJS.Timeout | undefined;
  /** RSS when the current phase started. */
  get startRss(): number {
    return this.first;
  }
  start(): void {
    this.peak = process.memoryUsage().rss;
    this.first = this.peak;
    this.timer = setInterval(() => {
      this.peak = Math.max(this.peak, process.memoryUsage().rss);
    }, 20);
  }
  stop(): number {
    clearInterval(this.timer);
    return Math.max(this.peak, process.memoryUsage().rss);
  }
}

// ------------------------------------------------------------------ helpers

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

/**
 * The benchmark's own HTTP client: node:http over kept-alive sockets, the same transport the S3
 * client of the floor uses (fetch would add its WHATWG stream layer and a copy of every request
 * body to the stack's figures, not to the floor's).
 */
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function send(url: string, init: { method?: string; token?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
    const req = httpRequest(url, { method: init.method ?? 'GET', headers, agent }, resolve);
    req.on('error', reject);
    req.end(init.body);
  });
}

async function call(url: string, init: { method?: string; token?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<unknown> {
  const res = await send(url, init);
  const parts: Buffer[] = [];
  for await (const p of res) parts.push(p as Buffer);
  const text = Buffer.concat(parts).toString('utf8');
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) throw new Error(`${init.method ?? 'GET'} ${new URL(url).pathname}: HTTP ${status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

const data = (body: unknown): Record<string, unknown> => ((body as { data?: Record<string, unknown> })?.data ?? {}) as Record<string, unknown>;

const mibps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

// ------------------------------------------------------------------ end to end

async function uploadFile(base: string, token: string, f: FileSpec, name: string): Promise<{ fileId: string; ms: number }> {
  const t0 = performance.now();
  const manifest = describe(f);
  const session = data(
    await call(`${base}/api/v1/uploads`, {
      method: 'POST',
      token,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name, size: f.size, sha256: manifest.sha256, chunks: manifest.chunks }),
    }),
  );
  const uploadId = String(session.upload_id);
  const missing = new Set((session.missing as string[] | undefined) ?? []);
  const todo = manifest.chunks.map((c, i) => ({ ...c, i })).filter((c) => missing.has(c.hash));
  await mapLimit(todo, CONCURRENCY, async (c) => {
    const body = chunkOf(f.seed, c.i, c.size);
    await call(`${base}/api/v1/uploads/${uploadId}/chunks/${c.hash}`, { method: 'PUT', token, headers: { 'content-type': 'application/octet-stream' }, body });
  });
  const file = data(await call(`${base}/api/v1/uploads/${uploadId}/commit`, { method: 'POST', token }));
  return { fileId: String(file.file_id ?? file.id), ms: performance.now() - t0 };
}

async function downloadFile(base: string, token: string, fileId: string, expect: { size: number; sha256: string }): Promise<number> {
  const t0 = performance.now();
  const res = await send(`${base}/api/v1/files/${fileId}/download`, { token, headers: { [DOWNLOAD_TOKEN_HEADER]: `Bearer ${token}` } });
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
}

// ------------------------------------------------------------------ raw replica

async function rawReplica(endpoint: string, bucket: string, region: string, objects: number): Promise<{ putMiBps: number; getMiBps: number }> {
  const { createS3Client } = await import('#shared/clients.js');
  const { GetObjectCommand, PutObjectCommand } = await import('@aws-sdk/client-s3');
  const client = createS3Client({ region, endpoint, timeoutMs: 30_000 });
  const keys = Array.from({ length: objects }, (_, i) => `bench/raw-${i}`);
  let t0 = performance.now();
  await mapLimit(keys, CONCURRENCY, async (key) => {
    const body = chunkOf(`raw-${key}`, 0, CHUNK);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }));
  });
  const putMs = performance.now() - t0;
  t0 = performance.now();
  await mapLimit(keys, CONCURRENCY, async (key) => {
    const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    let n = 0;
    for await (const piece of res.Body as AsyncIterable<Uint8Array>) n += piece.length;
    if (n !== CHUNK) throw new Error(`raw GET returned ${n} bytes`);
  });
  const getMs = performance.now() - t0;
  client.destroy();
  return { putMiBps: mibps(objects * CHUNK, putMs), getMiBps: mibps(objects * CHUNK, getMs) };
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const started = performance.now();
  const { startSystem } = await import('#local/system.js');
  const dataDir = await mkdtemp(join(tmpdir(), 'echofs-bench-io-'));
  const db = DATABASE_URL ? await createTestDatabase(DATABASE_URL, `echofs_bench_io_${process.pid}`) : undefined;
  const system = await startSystem({
    dataDir,
    port: 0,
    schedules: false,
    ...(process.env.BENCH_REGIONS ? { regions: process.env.BENCH_REGIONS.split(',') } : {}),
    // The catalog BENCH_DATABASE_URL chose, else the embedded one, whatever DATABASE_URL the shell holds.
    env: { BCRYPT_COST: '4', ECHOFS_MODE: process.env.ECHOFS_MODE ?? 'strong', DATABASE_URL: db?.url ?? '' },
    ...(APART ? { startEmulators: startEmulatorsApart } : {}),
  }).catch(async (err: unknown) => {
    await db?.drop().catch(() => undefined);
    throw err;
  });
  try {
    const base = system.url;
    const client = new EchoClient(base, 60_000);
    await client.signIn('bench', 'bench@example.test', 'bench-password-123');
    const token = client.token as string;
    const baselineRss = process.memoryUsage().rss;

    const region = system.config.regions[0] as string;
    const replica = system.replicas[region];
    if (!replica) throw new Error(`no emulator for ${region}`);
    const sampler = new RssSampler();
    sampler.start();
    const raw = await rawReplica(replica.endpoint, replica.bucket, region, 48);
    const rawRss = sampler.stop();

    const rows: { mib: number; reps: number; up: number; down: number; rss: number; rssStart: number; raw: { putMiBps: number; getMiBps: number } }[] = [];
    for (const mib of SIZES) {
      const size = mib * MiB;
      // The floor again beside each size (the machine is shared: figures drift within a run).
      const rawHere = await rawReplica(replica.endpoint, replica.bucket, region, Math.min(48, Math.max(16, mib)));
      const ups: number[] = [];
      const downs: number[] = [];
      sampler.start();
      for (let rep = 0; rep < repsFor(mib); rep++) {
        const spec = { seed: `bench-${mib}-${rep}-${Date.now()}`, size };
        const { fileId, ms } = await uploadFile(base, token, spec, `bench-${mib}MiB-${rep}.bin`);
        ups.push(mibps(size, ms));
        const d = describe(spec);
        downs.push(mibps(size, await downloadFile(base, token, fileId, { size, sha256: d.sha256 })));
      }
      // Writes still landing on the slowest replica finish before the next size starts.
      await system.services.storage.drain();
      const rss = sampler.stop();
      rows.push({ mib, reps: repsFor(mib), up: median(ups), down: median(downs), rss, rssStart: sampler.startRss, raw: rawHere });
    }

    const f = (n: number, w: number, d = 1) => n.toFixed(d).padStart(w);
    const mode = system.config.mode;
    const lines = [
      '',
      `EchoFS bench:io — ${system.config.regions.length} s3rver replicas in-process, catalog ${db ? 'PostgreSQL' : 'PGlite'}, mode ${mode}, ${CONCURRENCY} chunk PUTs in flight, 1 MiB chunks, incompressible data`,
      '',
      '| file size | runs | upload MiB/s | ÷ (raw PUT ÷ 3) | download MiB/s | ÷ raw GET | raw PUT / GET MiB/s | RSS at start MiB | peak RSS MiB |',
      '|----------:|-----:|-------------:|----------------:|---------------:|----------:|--------------------:|-----------------:|-------------:|',
      ...rows.map(
        (r) =>
          `| ${`${r.mib} MiB`.padStart(9)} | ${String(r.reps).padStart(4)} | ${f(r.up, 12)} | ${f(r.up / (r.raw.putMiBps / 3), 15, 2)} | ${f(r.down, 14)} | ${f(r.down / r.raw.getMiBps, 9, 2)} | ${`${r.raw.putMiBps.toFixed(1)} / ${r.raw.getMiBps.toFixed(1)}`.padStart(19)} | ${f(r.rssStart / MiB, 16, 0)} | ${f(r.rss / MiB, 12, 0)} |`,
      ),
      '',
      `raw replica (${region}, S3 client straight to one s3rver, 48 × 1 MiB objects, ${CONCURRENCY} in flight):`,
      `  PUT ${raw.putMiBps.toFixed(1)} MiB/s   GET ${raw.getMiBps.toFixed(1)} MiB/s   peak RSS ${(rawRss / MiB).toFixed(0)} MiB`,
      `RSS after start-up ${(baselineRss / MiB).toFixed(0)} MiB; total bench time ${((performance.now() - started) / 1000).toFixed(1)} s`,
      'Upload = hash + session + chunk PUTs (each to every replica; acked at quorum) + commit. Download = streamed and verified.',
      'Ratios: upload ÷ (raw PUT ÷ 3) (three copies written by one client) and download ÷ raw GET, the raw figures measured just before that size.',
      `Figures are medians over the runs; RSS is the whole process (server, emulators, ${db ? 'the catalog\'s client' : 'embedded catalog'} and this client).`,
      `reproduce: ${DATABASE_URL ? 'BENCH_DATABASE_URL=postgres://… ' : ''}${process.env.BENCH_SIZES_MIB ? `BENCH_SIZES_MIB=${process.env.BENCH_SIZES_MIB} ` : ''}${process.env.BENCH_CONCURRENCY ? `BENCH_CONCURRENCY=${CONCURRENCY} ` : ''}npm run bench:io`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } finally {
    agent.destroy();
    await system.stop();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:io failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
