/**
 * `npm run bench:micro`: the CPU that two pieces of library work cost on every small write, each
 * measured beside the way it was called before, alternated in the same run (five rounds after a
 * warm-up; the median round is printed).
 *
 * - A replica PutObject of 16 KiB through the engine's S3 client (createS3Client, S3ObjectStore.put)
 *   against the same client settings called with per-call options (an abort signal per call), which
 *   rebuilds the command's middleware stack on every call. Both talk to an HTTP server in this
 *   process that answers at once, so both include the same local round trip.
 * - A session token's check: jose's jwtVerify with the raw key (imported on every call), a
 *   TokenService seeing a token for the first time (HMAC key imported once), and one that has
 *   verified the token before (the container keeps it until it expires).
 *
 * Options: --calls N per measurement and round (default 3000).
 */
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { jwtVerify } from 'jose';
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createS3Client } from '#shared/clients.js';
import { TokenService } from '#shared/auth/tokens.js';
import { S3ObjectStore } from '#shared/storage/s3-store.js';

interface Row {
  what: string;
  before: string;
  now: string;
  beforeUs: number;
  nowUs: number;
}

function parseCalls(argv: readonly string[]): number {
  const i = argv.indexOf('--calls');
  if (i === -1) return 3000;
  const n = Number(argv[i + 1]);
  if (!Number.isInteger(n) || n < 100) throw new Error(`--calls needs an integer ≥ 100 (got '${argv[i + 1] ?? ''}')`);
  return n;
}

/** CPU microseconds per call of `fn`, run `calls` times one after the other. */
async function cpuPerCall(calls: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = process.cpuUsage();
  for (let i = 0; i < calls; i++) await fn(i);
  const u = process.cpuUsage(t0);
  return (u.user + u.system) / calls;
}

const ROUNDS = 5;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const calls = parseCalls(process.argv.slice(2));
  // A replica that answers every request at once, as S3 answers a PutObject.
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { ETag: '"0"', 'Content-Length': '0' });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
  const before = new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 3000, requestTimeout: 3000, httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) }),
  });
  const store = new S3ObjectStore({ region: 'us-east-1', bucket: 'echofs-micro', client: createS3Client({ region: 'us-east-1', endpoint, timeoutMs: 3000 }) });
  const body = Buffer.alloc(16 * 1024, 7);
  const putBefore = (i: number) =>
    before.send(new PutObjectCommand({ Bucket: 'echofs-micro', Key: `chunks/m/${i}`, Body: body, ContentLength: body.length, ContentType: 'application/octet-stream' }), {
      abortSignal: AbortSignal.timeout(3000),
    });
  const putNow = (i: number) => store.put(`chunks/m/${i}`, body);

  const secret = 'k'.repeat(48);
  const raw = new TextEncoder().encode(secret);
  const tokens = new TokenService(secret);
  const token = await tokens.sign({ sub: '6f1c3a52-94b1-4c55-9d0e-2b3f1f7f9a10', role: 'user', tv: 0 });
  const verifyOpts = { algorithms: ['HS256'], issuer: 'echofs', audience: 'echofs-api', requiredClaims: ['sub', 'exp', 'iat'] };
  // First sight: a service whose remembered tokens are forgotten before each call (its key imported).
  const forgetful = new TokenService(secret);
  const forget = (forgetful as unknown as { verified: Map<string, unknown> }).verified;
  const verifyBefore = () => jwtVerify(token, raw, verifyOpts);
  const verifyFirst = () => {
    forget.clear();
    return forgetful.verify(token);
  };
  const verifyKnown = () => tokens.verify(token);

  // Warm-up: JIT, sockets, the cached middleware stacks.
  for (const f of [putBefore, putNow, verifyBefore, verifyFirst, verifyKnown]) await cpuPerCall(1000, f);
  const rounds = { putBefore: [] as number[], putNow: [] as number[], verifyBefore: [] as number[], verifyFirst: [] as number[], verifyKnown: [] as number[] };
  for (let r = 0; r < ROUNDS; r++) {
    rounds.putBefore.push(await cpuPerCall(calls, putBefore));
    rounds.putNow.push(await cpuPerCall(calls, putNow));
    rounds.verifyBefore.push(await cpuPerCall(calls, verifyBefore));
    rounds.verifyFirst.push(await cpuPerCall(calls, verifyFirst));
    rounds.verifyKnown.push(await cpuPerCall(calls, verifyKnown));
  }
  before.destroy();
  await new Promise<void>((r) => server.close(() => r()));

  const m = Object.fromEntries(Object.entries(rounds).map(([k, v]) => [k, median(v)])) as Record<keyof typeof rounds, number>;
  const rows: Row[] = [
    { what: 'replica PutObject, 16 KiB (local round trip included)', before: 'per-call options', now: 'S3ObjectStore.put', beforeUs: m.putBefore, nowUs: m.putNow },
    { what: 'session token check, first sight', before: 'jwtVerify, raw key', now: 'TokenService.verify', beforeUs: m.verifyBefore, nowUs: m.verifyFirst },
    { what: 'session token check, seen before', before: 'jwtVerify, raw key', now: 'TokenService.verify', beforeUs: m.verifyBefore, nowUs: m.verifyKnown },
  ];
  const out = [
    '',
    `EchoFS bench:micro — CPU per call, median of ${ROUNDS} alternated rounds of ${calls} calls, after 1,000 of warm-up each`,
    '',
    '| call | before | µs | now | µs | now ÷ before |',
    '|------|--------|---:|-----|---:|-------------:|',
    ...rows.map((r) => `| ${r.what} | ${r.before} | ${r.beforeUs.toFixed(1)} | ${r.now} | ${r.nowUs.toFixed(1)} | ${(r.nowUs / r.beforeUs).toFixed(2)} |`),
    '',
    `reproduce: npm run bench:micro${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    '',
  ];
  process.stdout.write(out.join('\n'));
}

await main();
