/**
 * `npm run bench:io`: end-to-end upload and download throughput of 1, 10 and 100 MiB files through
 * the whole local stack over HTTP (chunk sessions, parallel chunk PUTs, streamed download), beside
 * one emulator replica's raw PUT/GET throughput (the S3 client against one s3rver, through the
 * region's fault proxy as the engine reaches it), both
 * measured by the same client (./io-client.ts), alternated round by round in the same run; and the
 * peak RSS of the server's process.
 *
 * Each round measures the floor, then uploads a file and downloads it; a round's ratios are to the
 * floor just measured, and the table gives the medians over the rounds (the machine is shared:
 * figures drift within a run).
 *
 * Options (environment): BENCH_SIZES_MIB (default "1,10,100"), BENCH_CONCURRENCY (chunk PUTs in
 * flight, default 4), BENCH_REGIONS (default the three default regions), BENCH_DATABASE_URL (a
 * PostgreSQL server: the catalog is a scratch database there, dropped at the end; default the
 * embedded catalog), BENCH_EMULATORS=here|apart (default apart: the emulators in a process of their
 * own, ./replica-host.ts, for the stack and for the floor alike), BENCH_CLIENT=here|apart (default
 * apart: the client in a process of its own, as a deployment's clients are; `here` puts its work
 * on the server's thread).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BENCH_USER, EchoClient } from './client.js';
import { ioClient, startIoClientApart, type IoClient, type IoTarget } from './io-client.js';
import { startEmulatorsApart } from './replica-host.js';
import { createTestDatabase } from '../test/helpers/databases.js';

process.env.ECHOFS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const MiB = 1024 * 1024;
const SIZES = (process.env.BENCH_SIZES_MIB ?? '1,10,100').split(',').map((s) => Number(s.trim()));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const DATABASE_URL = process.env.BENCH_DATABASE_URL || undefined;
const placement = (name: string): 'here' | 'apart' => {
  const v = process.env[name] ?? 'apart';
  if (v !== 'here' && v !== 'apart') throw new Error(`${name} must be here or apart (got '${v}')`);
  return v;
};
const EMULATORS = placement('BENCH_EMULATORS');
const CLIENT = placement('BENCH_CLIENT');
if (SIZES.some((n) => !Number.isFinite(n) || n <= 0)) throw new Error(`BENCH_SIZES_MIB must be positive numbers of MiB (got '${process.env.BENCH_SIZES_MIB}')`);
if (!Number.isInteger(CONCURRENCY) || CONCURRENCY < 1) throw new Error(`BENCH_CONCURRENCY must be a positive integer (got '${process.env.BENCH_CONCURRENCY}')`);
if (DATABASE_URL !== undefined && !/^postgres(ql)?:\/\//.test(DATABASE_URL)) throw new Error('BENCH_DATABASE_URL must start with postgres:// or postgresql://');
/** Rounds per size: small files are repeated more, so that one hiccup does not decide the figure. */
const roundsFor = (mib: number) => (mib <= 1 ? 5 : 3);
/** 1 MiB objects per floor measurement: about the size of the file beside it, 16 to 48. */
const floorObjects = (mib: number) => Math.min(48, Math.max(16, Math.round(mib)));

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

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

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
    env: { BCRYPT_COST: '4', ECHOFS_MODE: process.env.ECHOFS_MODE ?? 'strong', DATABASE_URL: db?.url ?? '', ECHOFS_ADMIN_EMAILS: BENCH_USER.email },
    ...(EMULATORS === 'apart' ? { startEmulators: startEmulatorsApart } : {}),
  }).catch(async (err: unknown) => {
    await db?.drop().catch(() => undefined);
    throw err;
  });
  let client: IoClient | undefined;
  try {
    const signIn = new EchoClient(system.url, 60_000);
    await signIn.signIn(BENCH_USER.username, BENCH_USER.email, BENCH_USER.password);
    // The local system's controller decides modes (ECHOFS_MODE applies only without one): the mode
    // asked for is fixed by its global override, as the bench's fixed strategies are.
    await signIn.setOverride(system.config.mode);
    const region = system.config.regions[0] as string;
    // The floor reaches the replica the way the engine does: through the region's fault proxy (the
    // local stand-in for the network between regions), with no fault set.
    const endpoint = system.config.s3Endpoints[region];
    const bucket = system.config.buckets[region];
    if (!endpoint || !bucket) throw new Error(`no replica for ${region}`);
    const target: IoTarget = { url: system.url, token: signIn.token as string, replica: { region, endpoint, bucket }, concurrency: CONCURRENCY };
    client = CLIENT === 'apart' ? await startIoClientApart(target) : ioClient(target);
    const baselineRss = process.memoryUsage().rss;

    // Warm-up, and the floor on its own (reported below the table).
    const sampler = new RssSampler();
    sampler.start();
    const raw = await client.raw(48);
    const rawRss = sampler.stop();

    const rows: { mib: number; rounds: number; up: number; down: number; upRatio: number; downRatio: number; put: number; get: number; rss: number; rssStart: number }[] = [];
    for (const mib of SIZES) {
      const size = Math.round(mib * MiB);
      const rounds: { up: number; down: number; put: number; get: number }[] = [];
      sampler.start();
      for (let round = 0; round < roundsFor(mib); round++) {
        const floor = await client.raw(floorObjects(mib));
        const t = await client.roundTrip(size, `bench-${mib}MiB-${round}.bin`);
        rounds.push({ up: t.upMiBps, down: t.downMiBps, put: floor.putMiBps, get: floor.getMiBps });
        // Writes still landing on the slowest replica finish before the next round starts.
        await system.services.storage.drain();
      }
      const rss = sampler.stop();
      rows.push({
        mib,
        rounds: rounds.length,
        up: median(rounds.map((r) => r.up)),
        down: median(rounds.map((r) => r.down)),
        upRatio: median(rounds.map((r) => r.up / (r.put / 3))),
        downRatio: median(rounds.map((r) => r.down / r.get)),
        put: median(rounds.map((r) => r.put)),
        get: median(rounds.map((r) => r.get)),
        rss,
        rssStart: sampler.startRss,
      });
    }

    const f = (n: number, w: number, d = 1) => n.toFixed(d).padStart(w);
    const mode = system.config.mode;
    const where = (p: 'here' | 'apart') => (p === 'apart' ? 'in a process of their own' : "in the server's process");
    const lines = [
      '',
      `EchoFS bench:io — ${system.config.regions.length} s3rver replicas ${where(EMULATORS)}, client ${CLIENT === 'apart' ? 'in a process of its own' : "in the server's process"}, catalog ${db ? 'PostgreSQL' : 'PGlite'}, mode ${mode}, ${CONCURRENCY} chunk PUTs in flight, 1 MiB chunks, incompressible data`,
      '',
      '| file size | rounds | upload MiB/s | ÷ (raw PUT ÷ 3) | download MiB/s | ÷ raw GET | raw PUT / GET MiB/s | server RSS at start MiB | peak MiB |',
      '|----------:|-------:|-------------:|----------------:|---------------:|----------:|--------------------:|------------------------:|---------:|',
      ...rows.map(
        (r) =>
          `| ${`${r.mib} MiB`.padStart(9)} | ${String(r.rounds).padStart(6)} | ${f(r.up, 12)} | ${f(r.upRatio, 15, 2)} | ${f(r.down, 14)} | ${f(r.downRatio, 9, 2)} | ${`${r.put.toFixed(1)} / ${r.get.toFixed(1)}`.padStart(19)} | ${f(r.rssStart / MiB, 23, 0)} | ${f(r.rss / MiB, 8, 0)} |`,
      ),
      '',
      `raw replica alone (${region}, S3 client to one s3rver through its fault proxy, 48 × 1 MiB objects, ${CONCURRENCY} in flight, before the rounds):`,
      `  PUT ${raw.putMiBps.toFixed(1)} MiB/s   GET ${raw.getMiBps.toFixed(1)} MiB/s   server peak RSS meanwhile ${(rawRss / MiB).toFixed(0)} MiB`,
      `server RSS after start-up ${(baselineRss / MiB).toFixed(0)} MiB; total bench time ${((performance.now() - started) / 1000).toFixed(1)} s`,
      'Upload = hash + session + chunk PUTs (each to every replica; acked at quorum) + commit. Download = streamed and verified by the client.',
      'Each round measures the floor and then one upload and download; ratios are to the floor of the same round: upload ÷ (raw PUT ÷ 3) (three copies written by one client) and download ÷ raw GET.',
      `Figures are medians over the rounds; RSS is the server's process (the stack${EMULATORS === 'here' ? ', the emulators' : ''}, ${db ? "the catalog's client" : 'the embedded catalog'}${CLIENT === 'here' ? ' and the client' : ''}).`,
      `reproduce: ${DATABASE_URL ? 'BENCH_DATABASE_URL=postgres://… ' : ''}${process.env.BENCH_SIZES_MIB ? `BENCH_SIZES_MIB=${process.env.BENCH_SIZES_MIB} ` : ''}${process.env.BENCH_CONCURRENCY ? `BENCH_CONCURRENCY=${CONCURRENCY} ` : ''}${process.env.BENCH_EMULATORS ? `BENCH_EMULATORS=${EMULATORS} ` : ''}${process.env.BENCH_CLIENT ? `BENCH_CLIENT=${CLIENT} ` : ''}npm run bench:io`,
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } finally {
    await client?.close();
    await system.stop();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:io failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
