/**
 * The benchmark's `--quick` preset and its comparison of the adaptive strategy with the better of
 * the two fixed ones (pure: options parsed, rows computed from hand-made results).
 */
import { describe, expect, it } from 'vitest';
import type { CheckCounts } from '../../bench/checker.js';
import { adaptiveComparison, comparisonTable } from '../../bench/report.js';
import { parseArgs } from '../../bench/run.js';
import type { ScenarioResult } from '../../bench/runner.js';
import { QUICK_TIMINGS, type StrategyName } from '../../bench/scenarios.js';
import { summarize } from '../../bench/stats.js';

const NO_ANOMALY: CheckCounts = {
  writes: 0, writesAcked: 0, writesFailed: 0, writesIndeterminate: 0, casWrites: 0, reads: 0, readsOk: 0, readsFailed: 0, lists: 0, listsOk: 0,
  staleReads: 0, corruptReads: 0, phantomReads: 0, orderViolations: 0, casViolations: 0, criticalViolations: 0, verified: 0, lostWrites: 0, corruptVerifications: 0,
};

function result(strategy: StrategyName, scenario: string, writes: number[], o: { durability?: number[]; lost?: number } = {}): ScenarioResult {
  const p = summarize(writes);
  return {
    profile: 'geo',
    strategy,
    scenario,
    title: scenario,
    partition: scenario.startsWith('isolate'),
    durationMs: 1000,
    write: { all: p, fault: p },
    read: { all: summarize([]), fault: summarize([]) },
    availability: { writes: { ok: writes.length, attempted: writes.length, shed: 0, causes: {}, pct: 100 }, reads: { ok: 0, attempted: 0, shed: 0, causes: {}, pct: null }, duringFault: { ok: 0, attempted: 0, shed: 0, causes: {}, pct: null } },
    checker: { ...NO_ANOMALY, lostWrites: o.lost ?? 0, valid: (o.lost ?? 0) === 0, examples: [], staleDuringFault: 0, readsOkDuringFault: 0 },
    convergenceMs: null,
    convergenceSource: 'none',
    modes: { timeMs: {}, switches: 0, source: 'none', writesByMode: {}, deadlinePathMs: 0 },
    durability: { method: 'replica-files', tracked: writes.length, underMajorityAtAck: 0, claimedNotFound: 0, window: summarize(o.durability ?? []), stillUnderMajority: 0, fullyReplicated: writes.length },
    floor: { fastestMs: 0, majorityMs: 0, healthyFastestMs: 0, healthyMajorityMs: 0 },
    ops: [],
    status: [],
  };
}

describe('bench --quick', () => {
  it('runs the geo profile, delay-1 and isolate-1, with short windows, into bench/results/quick', () => {
    const o = parseArgs(['--quick'], {});
    expect(o.quick).toBe(true);
    expect(o.profiles.map((p) => p.name)).toEqual(['geo']);
    expect(o.scenarios).toEqual(['delay-1', 'isolate-1']);
    expect(o.strategies).toEqual(['strong', 'available', 'adaptive']);
    expect(o.timings).toEqual(QUICK_TIMINGS);
    expect(o.outDir).toMatch(/bench\/results\/quick$/);
    expect(parseArgs(['--quick', '--fault-ms', '3000'], {}).timings.faultMs).toBe(3000);
  });

  it('refuses --quick with --smoke', () => {
    expect(() => parseArgs(['--quick', '--smoke'], {})).toThrow(/exclusive/);
  });
});

describe('bench --emulators', () => {
  it('runs the replicas and dynalite apart in full and quick runs, in the bench process for smoke runs, as asked otherwise', () => {
    expect(parseArgs([], {}).emulators).toBe('apart');
    expect(parseArgs(['--quick'], {}).emulators).toBe('apart');
    expect(parseArgs(['--smoke'], {}).emulators).toBe('here');
    expect(parseArgs(['--emulators', 'here'], {}).emulators).toBe('here');
    expect(parseArgs(['--smoke', '--emulators', 'apart'], {}).emulators).toBe('apart');
    expect(() => parseArgs(['--emulators', 'elsewhere'], {})).toThrow(/--emulators must be 'apart' or 'here'/);
  });
});

describe('adaptive beside the better fixed strategy', () => {
  it('compares with the fixed strategy of lower write P50 and judges the targets', () => {
    const rows = adaptiveComparison(
      [
        result('strong', 'delay-1', [200, 210, 220]),
        result('available', 'delay-1', [100, 100, 100]),
        result('adaptive', 'delay-1', [110, 115, 118], { durability: [0, 150, 300] }),
        result('strong', 'isolate-1', [50, 50, 50]),
        result('available', 'isolate-1', [60, 60, 60]),
        result('adaptive', 'isolate-1', [90, 90, 90], { lost: 1 }),
      ],
      'geo',
    );
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({ scenario: 'delay-1', better: { strategy: 'available', p50: 100 }, durabilityP95Ms: 300, met: true });
    expect(rows[0]?.ratio).toBeCloseTo(1.15);
    expect(rows[0]?.ratioP95).toBeCloseTo(118 / 100);
    expect(rows[1]).toMatchObject({ scenario: 'isolate-1', better: { strategy: 'strong', p50: 50 }, anomalies: { lost: 1 }, met: false });
    expect(rows[1]?.ratio).toBeCloseTo(1.8);
    const table = comparisonTable([result('strong', 'delay-1', [200]), result('available', 'delay-1', [100]), result('adaptive', 'delay-1', [110])], 'geo');
    expect(table).toContain('| delay-1 | 110 / 110 | fixed available (A): 100 / 100 | 1.10× / 1.10× |');
  });

  it('holds the P95 to the target too, against the lower fixed P95 even when the other strategy has the lower P50', () => {
    // Adaptive matches available's P50 but has a long tail; strong has the lowest P95.
    const rows = adaptiveComparison(
      [
        result('strong', 'delay-1', [150, 150, 150, 150, 150, 150, 150, 150, 150, 160]),
        result('available', 'delay-1', [100, 100, 100, 100, 100, 100, 100, 100, 100, 170]),
        result('adaptive', 'delay-1', [100, 100, 100, 100, 100, 100, 100, 100, 100, 400]),
      ],
      'geo',
    );
    expect(rows[0]).toMatchObject({ better: { strategy: 'available' }, met: false });
    expect(rows[0]?.ratio).toBeCloseTo(1);
    const strongP95 = summarize([150, 150, 150, 150, 150, 150, 150, 150, 150, 160]).p95 as number;
    expect(strongP95).toBeLessThan(rows[0]?.better?.p95 as number);
    expect(rows[0]?.ratioP95).toBeCloseTo((rows[0]?.adaptive.p95 as number) / strongP95);
    expect(rows[0]?.ratioP95).toBeGreaterThan(1.2);
  });
});
