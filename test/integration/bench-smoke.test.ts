import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, runBench, type BenchOutput } from '../../bench/run.js';
import { STRATEGIES } from '../../bench/scenarios.js';
import { scaled } from '../helpers/load.js';
import { seedCatalog } from '../helpers/catalog-template.js';

/**
 * The benchmark's smoke run (every scenario for well under a second of load, all three strategies,
 * the `lan` profile) against the real local stack, so the harness cannot rot: it must produce its outputs
 * and the checker must find no lost, corrupt or stale data.
 */
describe('bench smoke run', () => {
  let outDir: string;
  let out: BenchOutput;
  const lines: string[] = [];

  beforeAll(async () => {
    outDir = await mkdtemp(join(tmpdir(), 'echofs-bench-smoke-'));
    const opts = parseArgs(['--smoke', '--profiles', 'lan', '--out', outDir], {});
    opts.log = (l) => lines.push(l);
    // The catalog: a scratch database on the run's PostgreSQL server when it has one (as the
    // bench's figures are taken), else the embedded one, started from the migrated template.
    if (process.env.DATABASE_URL) opts.databaseUrl = process.env.DATABASE_URL;
    else opts.prepareDataDir = seedCatalog;
    out = await runBench(opts);
  }, scaled(300_000));

  afterAll(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  it('completes every scenario for every strategy without a harness error', () => {
    expect(out.report.errors, lines.join('\n')).toEqual([]);
    const scenarios = new Set(out.report.results.map((r) => r.scenario));
    expect(scenarios.size).toBe(6);
    expect(out.report.results).toHaveLength(6 * STRATEGIES.length);
  });

  it('writes the Markdown table, the JSON and a chart per partition scenario', async () => {
    const md = await readFile(join(outDir, 'latest.md'), 'utf8');
    expect(md).toContain('Published figures beside ours');
    expect(md).toContain('| scenario | strategy |');
    const json = JSON.parse(await readFile(join(outDir, 'latest.json'), 'utf8')) as { results: unknown[]; meta: { smoke: boolean } };
    expect(json.meta.smoke).toBe(true);
    expect(json.results).toHaveLength(6 * STRATEGIES.length);
    expect(out.files.charts.map((c) => c.slice(outDir.length + 1)).sort()).toEqual(['lan-isolate-1.svg', 'lan-isolate-2.svg']);
    for (const c of out.files.charts) {
      expect((await stat(c)).size).toBeGreaterThan(0);
      expect(await readFile(c, 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>$/);
    }
  });

  it('acknowledged some writes in every run and the checker found no lost, corrupt or stale data', () => {
    for (const r of out.report.results) {
      const where = `${r.scenario}/${r.strategy}: ${r.checker.examples.join('; ')}`;
      expect(r.checker.writesAcked, where).toBeGreaterThan(0);
      expect(r.checker.lostWrites, where).toBe(0);
      expect(r.checker.corruptReads + r.checker.corruptVerifications + r.checker.phantomReads, where).toBe(0);
      expect(r.checker.staleReads, where).toBe(0);
      expect(r.checker.verified, where).toBe(r.checker.writesAcked);
    }
  });
});
