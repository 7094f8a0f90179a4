/**
 * `npm run bench:small`: small writes (16 KiB single-request uploads) against their floor, measured
 * side by side in the same run on the same local stack.
 *
 * The floor of a write in a mode is what the replicas alone cost for it, through the same fault
 * proxies and the same S3 client settings the engine uses: three parallel PutObject calls (one per
 * replica) for strong, one PutObject for available. Latency is measured in alternating blocks
 * (floor, EchoFS, floor, …) so that drift on a shared machine falls on both alike; the process's
 * CPU time is summed per block kind (client, server and emulators all run in this process, so the
 * ratio compares whole-system CPU per write). Throughput is measured closed-loop with N clients for
 * a fixed time, for EchoFS and for the floor; failed requests are counted by status.
 *
 * Options: --modes strong,available (default both), --writes N per mode for latency (default 200),
 * --block N (default 20), --size BYTES (default 16384), --clients N (default 16), --seconds N
 * (throughput window, default 10). The catalog is PGlite unless BENCH_DATABASE_URL (or
 * --database-url) names a PostgreSQL server; a fresh database is created on it and dropped after.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createTestDatabase } from '../test/helpers/databases.js';
import { EchoClient } from './client.js';

process.env.ECHOFS_LOG_LEVEL ??= 'ERROR';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';

type ModeName = 'strong' | 'available';

interface Options {
  modes: ModeName[];
  writes: number;
  block: number;
  size: number;
  clients: number;
  seconds: number;
  databaseUrl: string | undefined;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { modes: ['strong', 'available'], writes: 200, block: 20, size: 16 * 1024, clients: 16, seconds: 10, databaseUrl: process.env.BENCH_DATABASE_URL || undefined };
  const num = (name: string, v: string | undefined, min = 1): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min} (got '${v ?? ''}')`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const v = () => argv[++i];
    switch (a) {
      case '--modes': {
        const modes = (v() ?? '').split(',').map((s) => s.trim());
        for (const m of modes) if (m !== 'strong' && m !== 'available') throw new Error(`--modes takes strong and/or available (got '${m}')`);
        o.modes = modes as ModeName[];
        break;
      }
      case '--writes': o.writes = num(a, v()); break;
      case '--block': o.block = num(a, v()); break;
      case '--size': o.size = num(a, v()); break;
      case '--clients': o.clients = num(a, v()); break;
      case '--seconds': o.seconds = num(a, v()); break;
      case '--database-url': o.databaseUrl = v(); break;
      default: throw new Error(`unknown option ${a} (see the comment at the top of bench/small.ts)`);
    }
  }
  if (o.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(o.databaseUrl)) throw new Error('--database-url must start with postgres:// or postgresql://');
  return o;
}

const pct = (xs: number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Block {
  latencies: number[];
  cpuMs: number;
  ops: number;
}

interface ModeResult {
  mode: ModeName;
  floor: Block;
  echo: Block;
  floorTput: { ops: number; seconds: number; latencies: number[] };
  echoTput: { ops: number; seconds: number; latencies: number[]; failures: Record<string, number> };
}

async function runMode(mode: ModeName, o: Options): Promise<ModeResult> {
  const { startSystem } = await import('#local/system.js');
  const { createS3Client } = await import('#shared/clients.js');
  const dataDir = await mkdtemp(join(tmpdir(), 'echofs-bench-small-'));
  const db = o.databaseUrl ? await createTestDatabase(o.databaseUrl, `echofs_bench_small_${process.pid}_${mode}`) : undefined;
  const system = await startSystem({
    dataDir,
    port: 0,
    schedules: false,
    env: { BCRYPT_COST: '4', ECHOFS_MODE: mode, DATABASE_URL: db?.url ?? '' },
  });
  const clients: S3Client[] = [];
  try {
    const regions = system.config.regions;
    const endpoints = system.config.s3Endpoints;
    const replicas = regions.map((region) => {
      const client = createS3Client({ region, endpoint: endpoints[region] as string, timeoutMs: 10_000 });
      clients.push(client);
      return { client, bucket: system.config.buckets[region] as string };
    });
    const echo = new EchoClient(system.url, 30_000);
    await echo.signIn('bench', 'bench@example.test', 'bench-password-123');

    let seq = 0;
    const floorOp = async (): Promise<void> => {
      const body = randomBytes(o.size);
      const key = `bench-floor/${process.pid}-${seq++}`;
      const targets = mode === 'strong' ? replicas : replicas.slice(0, 1);
      await Promise.all(targets.map((r) => r.client.send(new PutObjectCommand({ Bucket: r.bucket, Key: key, Body: body, ContentLength: body.length }))));
    };
    const echoOp = async (): Promise<{ ok: boolean; cause?: string }> => {
      const out = await echo.upload(`small-${seq++}.bin`, randomBytes(o.size));
      return out.ok ? { ok: true } : { ok: false, cause: out.cause };
    };

    // Warm both paths (connections, JIT, the catalog's first statements).
    for (let i = 0; i < 20; i++) {
      await floorOp();
      await echoOp();
    }

    const floor: Block = { latencies: [], cpuMs: 0, ops: 0 };
    const mine: Block = { latencies: [], cpuMs: 0, ops: 0 };
    const runBlock = async (into: Block, op: () => Promise<unknown>, n: number) => {
      const c0 = cpuMs();
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        const r = await op();
        if (r && typeof r === 'object' && 'ok' in r && !(r as { ok: boolean }).ok) throw new Error(`a sequential small write failed: ${JSON.stringify(r)}`);
        into.latencies.push(performance.now() - t0);
      }
      into.cpuMs += cpuMs() - c0;
      into.ops += n;
    };
    for (let done = 0; done < o.writes; done += o.block) {
      const n = Math.min(o.block, o.writes - done);
      await runBlock(floor, floorOp, n);
      await runBlock(mine, echoOp, n);
    }

    const closedLoop = async (op: () => Promise<{ ok: boolean; cause?: string } | void>) => {
      const latencies: number[] = [];
      const failures: Record<string, number> = {};
      let ops = 0;
      const t0 = performance.now();
      const end = t0 + o.seconds * 1000;
      await Promise.all(
        Array.from({ length: o.clients }, async () => {
          while (performance.now() < end) {
            const s = performance.now();
            let r: { ok: boolean; cause?: string } | void;
            try {
              r = await op();
            } catch (err) {
              r = { ok: false, cause: (err as Error).name || 'error' };
            }
            if (r && !r.ok) failures[r.cause ?? 'error'] = (failures[r.cause ?? 'error'] ?? 0) + 1;
            else {
              ops++;
              latencies.push(performance.now() - s);
            }
          }
        }),
      );
      return { ops, seconds: (performance.now() - t0) / 1000, latencies, failures };
    };
    const floorTput = await closedLoop(floorOp);
    const echoTput = await closedLoop(echoOp);
    return { mode, floor, echo: mine, floorTput, echoTput };
  } finally {
    for (const c of clients) c.destroy();
    await system.stop();
    await db?.drop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const results: ModeResult[] = [];
  for (const mode of o.modes) results.push(await runMode(mode, o));
  const f = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '–');
  const catalog = o.databaseUrl ? 'PostgreSQL' : 'PGlite';
  const command = `${o.databaseUrl ? 'BENCH_DATABASE_URL=postgres://… ' : ''}npm run bench:small${process.argv.length > 2 ? ` -- ${process.argv.slice(2).filter((a) => !/^postgres/.test(a)).join(' ')}` : ''}`;
  const lines = [
    '',
    `EchoFS bench:small — ${o.size} B single-request uploads, catalog ${catalog}, ${o.writes} sequential writes per mode in blocks of ${o.block}, then ${o.clients} clients for ${o.seconds} s`,
    `floor: three parallel PutObject (strong) or one PutObject (available) through the same fault proxies and S3 client settings`,
    '',
    '| mode | EchoFS P50 / P95 ms | floor P50 / P95 ms | P50 ÷ floor | CPU ms per write | floor CPU ms per op | CPU ÷ floor |',
    '|------|--------------------:|-------------------:|------------:|-----------------:|--------------------:|------------:|',
    ...results.map((r) => {
      const e50 = pct(r.echo.latencies, 50);
      const f50 = pct(r.floor.latencies, 50);
      const ecpu = r.echo.cpuMs / r.echo.ops;
      const fcpu = r.floor.cpuMs / r.floor.ops;
      return `| ${r.mode} | ${f(e50)} / ${f(pct(r.echo.latencies, 95))} | ${f(f50)} / ${f(pct(r.floor.latencies, 95))} | ${f(e50 / f50, 2)} | ${f(ecpu, 2)} | ${f(fcpu, 2)} | ${f(ecpu / fcpu, 2)} |`;
    }),
    '',
    `| mode | clients | EchoFS writes/s | P50 / P95 ms | failed (by cause) | floor ops/s | writes/s ÷ floor |`,
    '|------|--------:|----------------:|-------------:|-------------------|------------:|-----------------:|',
    ...results.map((r) => {
      const w = r.echoTput.ops / r.echoTput.seconds;
      const fl = r.floorTput.ops / r.floorTput.seconds;
      const failed = Object.entries(r.echoTput.failures).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
      return `| ${r.mode} | ${o.clients} | ${f(w)} | ${f(pct(r.echoTput.latencies, 50))} / ${f(pct(r.echoTput.latencies, 95))} | ${failed} | ${f(fl)} | ${f(w / fl, 2)} |`;
    }),
    '',
    `reproduce: ${command}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:small failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
