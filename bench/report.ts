/**
 * Benchmark output: the Markdown tables (with the published figures beside ours), the JSON, and a
 * hand-written SVG chart of latency and mode over time for each partition scenario.
 */
import type { ScenarioResult } from './runner.js';
import { PUBLISHED, STRATEGIES, STRATEGY_TITLES, TARGETS, type StrategyName } from './scenarios.js';
import { fmt, fmtPct, pct, type Percentiles } from './stats.js';

export interface BenchMeta {
  startedAt: string;
  finishedAt: string;
  command: string;
  smoke: boolean;
  /** `--quick`: geo, delay-1 and isolate-1 with short windows. */
  quick?: boolean;
  node: string;
  cpus: number;
  regions: string[];
  profiles: Record<string, number[]>;
  timings: Record<string, number>;
  workload: Record<string, number>;
  probeIntervalMs: number;
  replicaTimeoutMs: number;
  catalog: 'pglite' | 'postgres';
  /** Where the s3rver replicas and dynalite ran (absent in results from before the option). */
  emulators?: 'apart' | 'here';
  system?: 'apart' | 'here';
}

export interface BenchReport {
  meta: BenchMeta;
  results: ScenarioResult[];
  /** Problems that stopped a run (kept so a partial table still says what is missing). */
  errors: { profile: string; strategy: string; scenario: string; message: string }[];
}

const p3 = (p: Percentiles) => `${fmt(p.p50)} / ${fmt(p.p95)} / ${fmt(p.p99)}`;
const p2 = (p: Percentiles) => `${fmt(p.p50)} / ${fmt(p.p95)}`;
const ms = (v: number | null) => (v === null ? '–' : v >= 1000 ? `${fmt(v / 1000)} s` : `${fmt(v)} ms`);
const floorMs = (v: number) => (Number.isFinite(v) ? fmt(v) : '∞');

function causes(c: Record<string, number>): string {
  const parts = Object.entries(c)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k}×${n}`);
  return parts.length ? parts.join(', ') : '–';
}

function modeTime(r: ScenarioResult): string {
  const total = Object.values(r.modes.timeMs).reduce((a, b) => a + b, 0);
  if (total === 0) return r.modes.source === 'none' ? '–' : Object.entries(r.modes.writesByMode).map(([m, n]) => `${m} ${n}w`).join(' ');
  const deadline = r.modes.deadlinePathMs;
  return ['C', 'H', 'A']
    .filter((m) => (r.modes.timeMs[m] ?? 0) > 0)
    .map((m) => `${m} ${fmt((100 * (r.modes.timeMs[m] ?? 0)) / total)}%${m === 'C' && deadline > 0 ? ` (deadline path ${fmt((100 * deadline) / total)}%)` : ''}`)
    .join(' ');
}

function find(results: readonly ScenarioResult[], profile: string, scenario: string, strategy: StrategyName): ScenarioResult | undefined {
  return results.find((r) => r.profile === profile && r.scenario === scenario && r.strategy === strategy);
}

/** Published figures beside ours, from the profile that best matches the original setup. */
export function publishedComparison(results: readonly ScenarioResult[], profile: string): string {
  const get = (scenario: string, s: StrategyName) => find(results, profile, scenario, s);
  const cell = (scenario: string, s: StrategyName, f: (r: ScenarioResult) => string) => {
    const r = get(scenario, s);
    return r ? f(r) : 'n/a';
  };
  const rowsOurs: [string, string, (r: ScenarioResult) => string][] = [
    ['P50 write latency, normal', 'normal', (r) => `${fmt(r.write.all.p50)} ms`],
    ['P95 write latency, normal', 'normal', (r) => `${fmt(r.write.all.p95)} ms`],
    ['P50 write latency, partition', 'isolate-1', (r) => `${fmt(r.write.fault.p50)} ms`],
    ['P95 write latency, partition', 'isolate-1', (r) => `${fmt(r.write.fault.p95)} ms`],
    ['availability during partition', 'isolate-1', (r) => fmtPct(r.availability.duringFault.pct)],
    ['stale reads during partition', 'isolate-1', (r) => fmtPct(pct(r.checker.staleDuringFault, r.checker.readsOkDuringFault))],
    ['convergence after heal', 'isolate-1', (r) => ms(r.convergenceMs)],
  ];
  const lines = [
    `| metric | published: strong | published: adaptive | ${STRATEGIES.map((s) => `EchoFS: ${STRATEGY_TITLES[s]}`).join(' | ')} |`,
    `|---|---|---|${STRATEGIES.map(() => '---').join('|')}|`,
  ];
  rowsOurs.forEach(([metric, scenario, f], i) => {
    const pub = PUBLISHED.rows[i] as { strong: string; adaptive: string };
    lines.push(`| ${metric} | ${pub.strong} | ${pub.adaptive} | ${STRATEGIES.map((s) => cell(scenario, s, f)).join(' | ')} |`);
  });
  return lines.join('\n');
}

/** Adaptive beside the better of the two fixed strategies in one scenario. */
export interface AdaptiveComparison {
  profile: string;
  scenario: string;
  title: string;
  adaptive: { p50: number | null; p95: number | null; faultP50: number | null };
  /** The fixed strategy with the lower write P50 (over the whole run). */
  better: { strategy: StrategyName; p50: number | null; p95: number | null; faultP50: number | null } | null;
  /** adaptive P50 ÷ better P50 (whole run, and in the fault window where there is one). */
  ratio: number | null;
  /** adaptive P95 ÷ the lower of the fixed strategies' P95 (whole run). */
  ratioP95: number | null;
  faultRatio: number | null;
  /** The adaptive run's durability window P95 (ms) and how many of its chunks were under a majority at the ack. */
  durabilityP95Ms: number | null;
  underMajorityAtAck: number;
  tracked: number;
  anomalies: { lost: number; stale: number; corrupt: number };
  /** Within TARGETS (ratio and durability window) with no anomaly; null when a figure is missing. */
  met: boolean | null;
}

const ratioOf = (a: number | null, b: number | null): number | null => (a === null || b === null || b <= 0 ? null : a / b);

export function adaptiveComparison(results: readonly ScenarioResult[], profile: string): AdaptiveComparison[] {
  const rows: AdaptiveComparison[] = [];
  for (const a of results.filter((r) => r.profile === profile && r.strategy === 'adaptive')) {
    const fixed = (['strong', 'available'] as const)
      .map((s) => find(results, profile, a.scenario, s))
      .filter((r): r is ScenarioResult => r !== undefined && r.write.all.p50 !== null)
      .sort((x, y) => (x.write.all.p50 as number) - (y.write.all.p50 as number));
    const b = fixed[0];
    const hasFault = a.partition || a.scenario.startsWith('delay');
    const ratio = ratioOf(a.write.all.p50, b?.write.all.p50 ?? null);
    const bestP95 = fixed.map((r) => r.write.all.p95).filter((v): v is number => v !== null).sort((x, y) => x - y)[0] ?? null;
    const ratioP95 = ratioOf(a.write.all.p95, bestP95);
    const faultRatio = hasFault ? ratioOf(a.write.fault.p50, b?.write.fault.p50 ?? null) : null;
    const d = a.durability;
    const durabilityP95Ms = d.method === 'unavailable' ? null : d.window.p95;
    const c = a.checker;
    const anomalies = { lost: c.lostWrites, stale: c.staleReads, corrupt: c.corruptReads + c.corruptVerifications + c.phantomReads };
    const clean = anomalies.lost + anomalies.stale + anomalies.corrupt === 0;
    rows.push({
      profile,
      scenario: a.scenario,
      title: a.title,
      adaptive: { p50: a.write.all.p50, p95: a.write.all.p95, faultP50: hasFault ? a.write.fault.p50 : null },
      better: b ? { strategy: b.strategy, p50: b.write.all.p50, p95: b.write.all.p95, faultP50: hasFault ? b.write.fault.p50 : null } : null,
      ratio,
      ratioP95,
      faultRatio,
      durabilityP95Ms,
      underMajorityAtAck: d.underMajorityAtAck,
      tracked: d.tracked,
      anomalies,
      met:
        ratio === null || ratioP95 === null
          ? null
          : ratio <= TARGETS.latencyRatio && ratioP95 <= TARGETS.latencyRatio && (durabilityP95Ms === null || durabilityP95Ms <= TARGETS.durabilityP95Ms) && clean,
    });
  }
  return rows;
}

const fmtRatio = (r: number | null) => (r === null ? '–' : `${r.toFixed(2)}×`);

export function comparisonTable(results: readonly ScenarioResult[], profile: string): string {
  const lines = [
    `| scenario | adaptive write P50 / P95 ms | better fixed: P50 / P95 ms | ratio P50 / P95 | in fault: adaptive / better P50 ms, ratio | durability window P95 ms (under majority at ack) | lost / stale / corrupt | target met |`,
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of adaptiveComparison(results, profile)) {
    const better = r.better ? `${STRATEGY_TITLES[r.better.strategy]}: ${fmt(r.better.p50)} / ${fmt(r.better.p95)}` : 'n/a';
    const fault = r.adaptive.faultP50 === null ? '–' : `${fmt(r.adaptive.faultP50)} / ${fmt(r.better?.faultP50 ?? null)}, ${fmtRatio(r.faultRatio)}`;
    const dur = r.durabilityP95Ms === null ? 'n/a' : `${fmt(r.durabilityP95Ms)} (${r.underMajorityAtAck}/${r.tracked})`;
    const met = r.met === null ? '–' : r.met ? 'yes' : 'no';
    lines.push(`| ${r.title} | ${fmt(r.adaptive.p50)} / ${fmt(r.adaptive.p95)} | ${better} | ${fmtRatio(r.ratio)} / ${fmtRatio(r.ratioP95)} | ${fault} | ${dur} | ${r.anomalies.lost} / ${r.anomalies.stale} / ${r.anomalies.corrupt} | ${met} |`);
  }
  return lines.join('\n');
}

export function latencyTable(results: readonly ScenarioResult[], profile: string): string {
  const lines = [
    '| scenario | strategy | write P50 / P95 / P99 ms | write P50 / P95 in fault ms | floor: fastest / majority-th RTT ms | read P50 / P95 / P99 ms | write avail. | read avail. | failures by cause |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results.filter((x) => x.profile === profile)) {
    const hasFault = r.partition || r.scenario.startsWith('delay');
    lines.push(
      `| ${r.title} | ${STRATEGY_TITLES[r.strategy]} | ${p3(r.write.all)} | ${hasFault ? p2(r.write.fault) : '–'} | ${floorMs(r.floor.fastestMs)} / ${floorMs(r.floor.majorityMs)} | ${p3(r.read.all)} | ${fmtPct(r.availability.writes.pct)} (${r.availability.writes.ok}/${r.availability.writes.attempted}${r.availability.writes.shed ? `, ${r.availability.writes.shed} shed` : ''}) | ${fmtPct(r.availability.reads.pct)} | ${causes({ ...sumCauses(r.availability.writes.causes, r.availability.reads.causes) })} |`,
    );
  }
  return lines.join('\n');
}

function sumCauses(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = { ...a };
  for (const [k, n] of Object.entries(b)) out[k] = (out[k] ?? 0) + n;
  return out;
}

export function consistencyTable(results: readonly ScenarioResult[], profile: string): string {
  const lines = [
    '| scenario | strategy | reads checked | stale reads | acked writes | lost writes | corrupt | convergence (heal → empty backlog) | time in mode | switches | durability window P50 / P95 / max ms (under majority at ack) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results.filter((x) => x.profile === profile)) {
    const c = r.checker;
    const d = r.durability;
    const dur = d.method === 'unavailable' ? 'n/a' : `${fmt(d.window.p50)} / ${fmt(d.window.p95)} / ${fmt(d.window.max)} (${d.underMajorityAtAck}/${d.tracked}${d.stillUnderMajority ? `, ${d.stillUnderMajority} still open` : ''}${d.claimedNotFound ? `, ${d.claimedNotFound} acknowledged by a majority but not on their disks` : ''})`;
    lines.push(
      `| ${r.title} | ${STRATEGY_TITLES[r.strategy]} | ${c.readsOk} | ${c.staleReads} | ${c.writesAcked} | ${c.lostWrites} | ${c.corruptReads + c.corruptVerifications + c.phantomReads} | ${ms(r.convergenceMs)} | ${modeTime(r)} | ${r.modes.switches} | ${dur} |`,
    );
  }
  return lines.join('\n');
}

export function markdown(report: BenchReport, charts: string[]): string {
  const m = report.meta;
  const profiles = Object.keys(m.profiles);
  const out: string[] = [];
  out.push(`# EchoFS benchmark results${m.smoke ? ' (smoke run: durations too short for meaningful figures)' : m.quick ? ' (quick run: geo, delay-1 and isolate-1, short windows)' : ''}`);
  out.push('');
  out.push(`Run ${m.startedAt} → ${m.finishedAt} with \`${m.command}\` on ${m.cpus} CPU(s), Node ${m.node}.`);
  out.push(
    `Regions ${m.regions.join(', ')}; profiles ${profiles.map((p) => `\`${p}\` (+${(m.profiles[p] ?? []).join('/')} ms)`).join(', ')}; ` +
      `workload ${m.workload.writeRate} writes/s + ${m.workload.readRate} reads/s over ${m.workload.keys} objects of ${fmt((m.workload.minBytes ?? 0) / 1024)}–${fmt((m.workload.maxBytes ?? 0) / 1024)} KiB, at most ${m.workload.maxInFlight} writes and as many reads in flight; ` +
      `steady scenarios ${fmt((m.timings.steadyMs ?? 0) / 1000)} s, partitions ${fmt((m.timings.beforeMs ?? 0) / 1000)} s + ${fmt((m.timings.faultMs ?? 0) / 1000)} s fault + ${fmt((m.timings.afterMs ?? 0) / 1000)} s; probe interval ${m.probeIntervalMs} ms, replica timeout ${m.replicaTimeoutMs} ms; catalog ${m.catalog === 'postgres' ? 'PostgreSQL' : 'PGlite (embedded)'}` +
      `${m.emulators === 'apart' ? '; replica emulators and dynalite in a process of their own' : m.emulators === 'here' ? "; replica emulators and dynalite in the bench's process" : ''}${m.system === 'apart' ? "; the system under test in a process of its own, apart from the bench's load and checker" : ''}.`,
  );
  out.push('');
  const cmpProfile = profiles.includes('geo') ? 'geo' : profiles[0];
  if (cmpProfile) {
    out.push(`## Published figures beside ours (profile \`${cmpProfile}\`; partition = one replica black-holed)`);
    out.push('');
    out.push(publishedComparison(report.results, cmpProfile));
    out.push('');
  }
  for (const p of profiles) {
    out.push(`## Profile \`${p}\``);
    out.push('');
    if (report.results.some((r) => r.profile === p && r.strategy === 'adaptive')) {
      out.push('### Adaptive beside the better fixed strategy');
      out.push('');
      out.push(
        `Target: adaptive write P50 and P95 each within ${TARGETS.latencyRatio}× of the better of fixed strong and fixed available, durability window P95 ≤ ${fmt(TARGETS.durabilityP95Ms / 1000)} s, ` +
          'nothing lost, stale or corrupt. Printed, never asserted.',
      );
      out.push('');
      out.push(comparisonTable(report.results, p));
      out.push('');
    }
    out.push('### Latency and availability');
    out.push('');
    out.push(latencyTable(report.results, p));
    out.push('');
    out.push('### Consistency, convergence, modes and durability');
    out.push('');
    out.push(consistencyTable(report.results, p));
    out.push('');
  }
  const examples = report.results.flatMap((r) => r.checker.examples.map((e) => `- ${r.profile} / ${r.scenario} / ${r.strategy}: ${e}`));
  if (examples.length) {
    out.push('## Checker anomalies (examples)');
    out.push('');
    out.push(...examples);
    out.push('');
  }
  if (report.errors.length) {
    out.push('## Runs that did not complete');
    out.push('');
    out.push(...report.errors.map((e) => `- ${e.profile} / ${e.scenario} / ${e.strategy}: ${e.message}`));
    out.push('');
  }
  if (charts.length) {
    out.push('## Charts');
    out.push('');
    out.push(...charts.map((c) => `- [${c}](${c})`));
    out.push('');
  }
  return out.join('\n');
}

/** The JSON written next to the table: everything except the raw per-operation samples. */
export function jsonReport(report: BenchReport): unknown {
  return {
    meta: report.meta,
    published: PUBLISHED,
    errors: report.errors,
    targets: TARGETS,
    comparison: Object.keys(report.meta.profiles).flatMap((p) => adaptiveComparison(report.results, p)),
    results: report.results.map(({ ops: _ops, status: _status, ...rest }) => rest),
  };
}

const MODE_COLORS: Record<string, string> = { C: '#2e7d32', H: '#f9a825', A: '#c62828' };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Latency (log scale) and mode over time, one panel per strategy, for one partition scenario. */
export function svgChart(results: readonly ScenarioResult[], title: string): string {
  const W = 960;
  const left = 60;
  const right = 20;
  const panelH = 150;
  const stripH = 12;
  const gap = 36;
  const top = 66;
  const H = top + results.length * (panelH + stripH + gap) + 30;
  const maxT = Math.max(1, ...results.map((r) => r.durationMs));
  const x = (t: number) => Math.round(10 * (left + ((W - left - right) * Math.min(Math.max(t, 0), maxT)) / maxT)) / 10;
  const lo = Math.log10(1);
  const hi = Math.log10(20_000);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${left}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`);
  parts.push(
    `<g transform="translate(${left},28)"><circle cx="0" cy="6" r="3" fill="#1565c0"/><text x="8" y="10">write</text><circle cx="50" cy="6" r="3" fill="#9e9e9e"/><text x="58" y="10">read</text>` +
      `<text x="100" y="10" fill="#c62828">× failed</text>${['C', 'H', 'A'].map((m, i) => `<rect x="${160 + i * 48}" y="1" width="10" height="10" fill="${MODE_COLORS[m]}"/><text x="${174 + i * 48}" y="10">${m}</text>`).join('')}` +
      `<rect x="310" y="1" width="14" height="10" fill="#ffcdd2"/><text x="328" y="10">fault window</text></g>`,
  );
  results.forEach((r, i) => {
    const y0 = top + i * (panelH + stripH + gap);
    const y = (v: number) => Math.round(10 * (y0 + panelH - ((Math.log10(Math.max(1, v)) - lo) / (hi - lo)) * panelH)) / 10;
    parts.push(`<text x="${left}" y="${y0 - 6}" font-weight="bold">${esc(STRATEGY_TITLES[r.strategy])}</text>`);
    if (r.faultWindow) {
      parts.push(`<rect x="${x(r.faultWindow.start)}" y="${y0}" width="${x(r.faultWindow.end) - x(r.faultWindow.start)}" height="${panelH}" fill="#ffcdd2" opacity="0.6"/>`);
    }
    parts.push(`<rect x="${left}" y="${y0}" width="${W - left - right}" height="${panelH}" fill="none" stroke="#bbb"/>`);
    for (const v of [1, 10, 100, 1000, 10_000]) {
      parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v >= 1000 ? `${v / 1000} s` : `${v} ms`}</text>`);
    }
    for (const o of r.ops) {
      if (o.ok) parts.push(`<circle cx="${x(o.t).toFixed(1)}" cy="${y(o.ms).toFixed(1)}" r="1.8" fill="${o.kind === 'write' ? '#1565c0' : '#9e9e9e'}" opacity="0.7"/>`);
      else parts.push(`<text x="${x(o.t).toFixed(1)}" y="${(y0 + 9).toFixed(1)}" fill="#c62828" text-anchor="middle" font-size="9">×</text>`);
    }
    const sy = y0 + panelH + 4;
    const series = r.status.filter((s) => s.mode);
    series.forEach((s, j) => {
      const end = j + 1 < series.length ? (series[j + 1] as { t: number }).t : r.durationMs;
      parts.push(`<rect x="${x(s.t).toFixed(1)}" y="${sy}" width="${Math.max(0.5, x(end) - x(s.t)).toFixed(1)}" height="${stripH}" fill="${MODE_COLORS[s.mode as string] ?? '#999'}"/>`);
    });
    if (series.length === 0) parts.push(`<text x="${left}" y="${sy + 10}" fill="#777">mode not reported</text>`);
  });
  const yAxis = H - 14;
  for (let s = 0; s <= maxT / 1000; s += Math.max(1, Math.round(maxT / 10_000))) {
    parts.push(`<text x="${x(s * 1000)}" y="${yAxis}" text-anchor="middle">${s} s</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}
