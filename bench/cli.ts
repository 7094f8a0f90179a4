/**
 * `npm run bench:cli`: `echofs put` and `echofs get` throughput through the whole local stack, the
 * client run as a user runs it (a child process through bin/echofs.js, over HTTP), on the same
 * stack settings as `npm run bench:io` (in-process system, strong mode, no schedules), so the two
 * figures can be read side by side.
 *
 * The file is incompressible (random) and written to a temp dir first; `put` time includes hashing
 * it, `get` time includes verifying every chunk and the whole file and writing it to disk.
 *
 * Options (environment): BENCH_SIZES_MIB (default "100"), BENCH_CONCURRENCY (chunk transfers in
 * flight, default 4), BENCH_RUNS (default 1; the median is shown).
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

process.env.ECHOFS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

const MiB = 1024 * 1024;
const SIZES = (process.env.BENCH_SIZES_MIB ?? '100').split(',').map((s) => Number(s.trim()));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 1));
const LAUNCHER = fileURLToPath(new URL('../bin/echofs.js', import.meta.url));

function echofs(args: string[], env: NodeJS.ProcessEnv): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [LAUNCHER, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - t0;
      if (code !== 0) reject(new Error(`echofs ${args.join(' ')} exited ${String(code)}: ${err || out}`));
      else resolve({ ms, stdout: out });
    });
  });
}

async function writeRandom(path: string, size: number): Promise<string> {
  const h = createHash('sha256');
  const out = createWriteStream(path);
  for (let off = 0; off < size; off += MiB) {
    const piece = randomBytes(Math.min(MiB, size - off));
    h.update(piece);
    if (!out.write(piece)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return h.digest('hex');
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const piece of createReadStream(path) as AsyncIterable<Buffer>) h.update(piece);
  return h.digest('hex');
}

const mibps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const { startSystem } = await import('#local/system.js');
  const dir = await mkdtemp(join(tmpdir(), 'echofs-bench-cli-'));
  const system = await startSystem({ dataDir: join(dir, 'data'), port: 0, schedules: false, env: { BCRYPT_COST: '4', ECHOFS_MODE: process.env.ECHOFS_MODE ?? 'strong', DATABASE_URL: '' } });
  try {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ECHOFS_URL: system.url, ECHOFS_CONFIG_DIR: join(dir, 'config'), ECHOFS_PROGRESS: 'none' };
    await echofs(['register', '--email', 'bench-cli@example.test', '--username', 'benchcli', '--password', 'bench-password-123'], env);
    const rows: { mib: number; put: number; get: number }[] = [];
    for (const mib of SIZES) {
      const puts: number[] = [];
      const gets: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const name = `bench-cli-${mib}MiB-${run}.bin`;
        const src = join(dir, name);
        const sha = await writeRandom(src, mib * MiB);
        const put = await echofs(['put', src, '--parallel', String(CONCURRENCY), '--json'], env);
        puts.push(mibps(mib * MiB, put.ms));
        const dest = join(dir, `${name}.back`);
        const get = await echofs(['get', name, dest, '--parallel', String(CONCURRENCY), '--json'], env);
        gets.push(mibps(mib * MiB, get.ms));
        if ((await sha256File(dest)) !== sha) throw new Error(`${name}: the downloaded copy differs`);
        await rm(src);
        await rm(dest);
        // Writes still landing on the slowest replica finish before the next run.
        await system.services.storage.drain();
      }
      rows.push({ mib, put: median(puts), get: median(gets) });
    }
    const lines = [
      '',
      `EchoFS bench:cli — echofs as a child process against ${system.config.regions.length} s3rver replicas in-process, mode ${system.config.mode}, ${CONCURRENCY} chunk transfers in flight, incompressible data`,
      '',
      '| file size | runs | echofs put MiB/s | echofs get MiB/s |',
      '|----------:|-----:|-----------------:|-----------------:|',
      ...rows.map((r) => `| ${`${r.mib} MiB`.padStart(9)} | ${String(RUNS).padStart(4)} | ${r.put.toFixed(1).padStart(16)} | ${r.get.toFixed(1).padStart(16)} |`),
      '',
      'Wall time of the whole command (process start, sign-in read, hashing, session, chunk PUTs, commit; or manifest, ranged chunk GETs, per-chunk and whole-file verification, write to disk).',
      '',
    ];
    process.stdout.write(lines.join('\n'));
  } finally {
    await system.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:cli failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
