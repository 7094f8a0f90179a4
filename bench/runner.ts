/**
 * Runs one scenario for one strategy against a running EchoFS: applies the faults on schedule,
 * drives an open-loop workload of writes (new versions of a few small objects) and reads (their
 * current content), records the history for the checker, samples the controller's status, tracks
 * each acknowledged chunk's copies on the replicas, waits for convergence after heal and finally
 * reads every acknowledged write back.
 */
import { createHash, randomBytes } from 'node:crypto';
import { check, History, type CheckCounts } from './checker.js';
import { readStatus, type EchoClient, type Outcome } from './client.js';
import type { ReplicaFiles } from './replicas.js';
import { majority, physicalFloor, type FaultSpec, type LatencyProfile, type Scenario, type ScenarioTimings, type StrategyName, type Workload } from './scenarios.js';
import { pct, summarize, type Percentiles } from './stats.js';

export interface FaultSettingsLike {
  state: 'up' | 'refuse' | 'blackhole';
  latency_ms: number;
  jitter_ms: number;
  loss: number;
}

/** What the runner needs from the system under test. */
export interface SystemUnderTest {
  url: string;
  regions: string[];
  /** Set one region's whole fault picture. */
  setFault(region: string, settings: FaultSettingsLike): Promise<void>;
  /** Copies on the replicas, when the replicas' storage is visible (local emulators). */
  replicaFiles?: ReplicaFiles;
}

export type Phase = 'steady' | 'before' | 'fault' | 'after';

export interface OpSample {
  /** ms since the scenario began (op start). */
  t: number;
  kind: 'write' | 'read';
  ms: number;
  ok: boolean;
  cause?: string;
  mode?: string;
  phase: Phase;
}

export interface StatusSample {
  t: number;
  mode?: string;
  /** The strong mode's write path (strong or deadline), when the server reports it. */
  writePath?: string;
  score?: number;
  backlog?: number;
}

export interface Availability {
  ok: number;
  attempted: number;
  /** Arrivals not sent because maxInFlight operations were already outstanding. */
  shed: number;
  /** Failures by cause: 503, timeout, network, http-NNN. */
  causes: Record<string, number>;
  /** ok / attempted, percent. */
  pct: number | null;
}

export interface DurabilityStats {
  /** replica-files: copies counted on the emulators' disks; unavailable: not measurable here. */
  method: 'replica-files' | 'unavailable';
  /** Acknowledged chunks tracked. */
  tracked: number;
  /** Of those, how many the server acknowledged with fewer than a majority of replicas. */
  underMajorityAtAck: number;
  /** Acknowledged as held by a majority, yet fewer copies were found on the disks just after. */
  claimedNotFound: number;
  /** Windows (ms) over all tracked chunks, zeros included. */
  window: Percentiles;
  /** Chunks still under a majority when the run ended (their window is open, counted to the end). */
  stillUnderMajority: number;
  /** Acknowledged chunks on every replica at the end. */
  fullyReplicated: number;
}

export interface ScenarioResult {
  profile: string;
  strategy: StrategyName;
  scenario: string;
  title: string;
  partition: boolean;
  durationMs: number;
  faultWindow?: { start: number; end: number };
  write: { all: Percentiles; fault: Percentiles };
  read: { all: Percentiles; fault: Percentiles };
  availability: { writes: Availability; reads: Availability; duringFault: Availability };
  checker: CheckCounts & { valid: boolean; examples: string[]; staleDuringFault: number; readsOkDuringFault: number };
  /** Heal -> empty backlog (ms); null when it did not drain within the timeout or is unknown. */
  convergenceMs: number | null;
  convergenceSource: 'status' | 'replica-files' | 'none';
  modes: {
    timeMs: Record<string, number>;
    switches: number;
    source: 'status' | 'header' | 'none';
    writesByMode: Record<string, number>;
    /** Time in mode C on the latency-aware deadline path (from the status samples). */
    deadlinePathMs: number;
  };
  durability: DurabilityStats;
  /** Round trip added to the fastest and to the majority-th replica while the faults held (ms). */
  floor: { fastestMs: number; majorityMs: number; healthyFastestMs: number; healthyMajorityMs: number };
  ops: OpSample[];
  status: StatusSample[];
}

export interface RunParams {
  client: EchoClient;
  sut: SystemUnderTest;
  profile: LatencyProfile;
  strategy: StrategyName;
  scenario: Scenario;
  timings: ScenarioTimings;
  workload: Workload;
  /** Distinguishes this run's object names. */
  runId: string;
  log: (line: string) => void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The profile's settings for each region, with a scenario's fault on top where given. */
export function faultPicture(profile: LatencyProfile, regions: readonly string[], faults: Record<number, FaultSpec>): Record<string, FaultSettingsLike> {
  const out: Record<string, FaultSettingsLike> = {};
  regions.forEach((region, i) => {
    const base = profile.latencyMs[i] ?? profile.latencyMs[profile.latencyMs.length - 1] ?? 0;
    const f = faults[i];
    out[region] = {
      state: f?.state ?? 'up',
      latency_ms: base + (f?.extraLatencyMs ?? 0),
      jitter_ms: f?.jitterMs ?? profile.jitterMs,
      loss: f?.loss ?? 0,
    };
  });
  return out;
}

export async function applyPicture(sut: SystemUnderTest, picture: Record<string, FaultSettingsLike>): Promise<void> {
  for (const [region, s] of Object.entries(picture)) await sut.setFault(region, s);
}

function latenciesOf(picture: Record<string, FaultSettingsLike>): (number | null)[] {
  return Object.values(picture).map((s) => (s.state === 'up' ? s.latency_ms : null));
}

/** Poll the controller's backlog until it is empty; ms from `since`, or null on timeout. */
export async function waitForEmptyBacklog(client: EchoClient, since: number, timeoutMs: number): Promise<{ ms: number | null; known: boolean }> {
  const deadline = performance.now() + timeoutMs;
  let known = false;
  while (performance.now() < deadline) {
    try {
      const s = readStatus(await client.status());
      if (s.backlog !== undefined) {
        known = true;
        if (s.backlog === 0) return { ms: performance.now() - since, known };
      }
    } catch {
      /* the status endpoint may be briefly unavailable; keep polling */
    }
    if (!known && performance.now() - since > 2_000) return { ms: null, known };
    await sleep(100);
  }
  return { ms: null, known };
}

/**
 * Convergence after a heal: poll from the heal on, while the load goes on, until the copies the
 * fault left behind are made, that is until the backlog is empty or the oldest copy still pending
 * is younger than the heal (what is left was written after it). Ms from the heal, or null when
 * `timeoutMs` (from the heal) passes first.
 */
export async function waitForHealedBacklog(client: EchoClient, healedAt: number, timeoutMs: number): Promise<{ ms: number | null; known: boolean }> {
  const deadline = healedAt + timeoutMs;
  let known = false;
  while (performance.now() < deadline) {
    const asked = performance.now();
    try {
      const s = readStatus(await client.status());
      if (s.backlog !== undefined) {
        known = true;
        if (s.backlog === 0 || (s.lagMs !== undefined && s.lagMs < asked - healedAt)) return { ms: performance.now() - healedAt, known };
      }
    } catch {
      /* the status endpoint may be briefly unavailable; keep polling */
    }
    if (!known && performance.now() - healedAt > 2_000) return { ms: null, known };
    await sleep(100);
  }
  return { ms: null, known };
}

export async function runScenario(p: RunParams): Promise<ScenarioResult> {
  const { client, sut, profile, strategy, scenario, timings, workload, log } = p;
  const regions = sut.regions;
  const q = majority(regions.length);
  const healthy = faultPicture(profile, regions, {});
  const faulty = faultPicture(profile, regions, scenario.faults);
  const history = new History();
  const hasFaults = Object.keys(scenario.faults).length > 0;

  const durationMs = scenario.partition ? timings.beforeMs + timings.faultMs + timings.afterMs : timings.steadyMs;
  const faultStart = scenario.partition ? timings.beforeMs : 0;
  const faultEnd = scenario.partition ? timings.beforeMs + timings.faultMs : durationMs;

  // Seed every key once, healthy, so reads have something to read from the start.
  const keys = Array.from({ length: workload.keys }, (_, i) => `bench-${p.runId}-${scenario.name}-${strategy}-k${i}.bin`);
  const fileIds = new Map<string, string>();
  const writeRefs = new Map<number, { fileId: string; version: string; hash: string }>();
  const acked: { hash: string; at: number }[] = [];
  const files = sut.replicaFiles;
  let tracker: DurabilityTracker | undefined;

  const doWrite = async (key: string, t0: number, phaseOf: (t: number) => Phase, samples: OpSample[] | null): Promise<void> => {
    const size = workload.minBytes + Math.floor(Math.random() * (workload.maxBytes - workload.minBytes + 1));
    const content = randomBytes(size);
    const hash = sha256(content);
    const id = history.invokeWrite(key, hash);
    const started = performance.now();
    const out = await client.upload(key, content);
    const ms = performance.now() - started;
    if (out.ok) {
      history.writeOk(id, out.value.version, { ...(out.mode ? { mode: out.mode } : {}), ...(out.value.acked !== undefined ? { acked: out.value.acked } : {}) });
      fileIds.set(key, out.value.fileId);
      writeRefs.set(id, { fileId: out.value.fileId, version: out.value.version, hash });
      acked.push({ hash, at: performance.now() });
      tracker?.ack(hash, out.value.acked);
    } else {
      history.writeFail(id, out.cause, out.definite);
    }
    samples?.push(sample('write', started - t0, ms, out, phaseOf(started - t0)));
  };

  await Promise.all(keys.map((key) => doWrite(key, performance.now(), () => 'steady', null)));
  // Seeds are not part of the durability figures; learn the replicas' layout from one of them
  // once it has reached every replica.
  if (files && !files.ready() && acked[0]) {
    await waitForEmptyBacklog(client, performance.now(), timings.convergenceTimeoutMs);
    await files.learn(acked[0].hash);
    if (!files.ready()) log('    replica directories not found: durability window not measured');
  }
  if (files?.ready()) tracker = new DurabilityTracker(files, q, regions.length);

  // Faults of a steady scenario hold for the whole run.
  if (hasFaults && !scenario.partition) await applyPicture(sut, faulty);

  const ops: OpSample[] = [];
  const status: StatusSample[] = [];
  const t0 = performance.now();
  const phaseOf = (t: number): Phase => (!scenario.partition ? (hasFaults ? 'fault' : 'steady') : t < faultStart ? 'before' : t < faultEnd ? 'fault' : 'after');

  let stopStatus = false;
  const statusLoop = (async () => {
    while (!stopStatus) {
      const at = performance.now() - t0;
      try {
        const s = readStatus(await client.status());
        status.push({ t: at, ...(s.mode ? { mode: s.mode } : {}), ...(s.writePath ? { writePath: s.writePath } : {}), ...(s.score !== undefined ? { score: s.score } : {}), ...(s.backlog !== undefined ? { backlog: s.backlog } : {}) });
      } catch {
        status.push({ t: at });
      }
      await sleep(250);
    }
  })();

  // Writes and reads each have their own bound, so a write backlog never starves the reads.
  const inFlight = { write: 0, read: 0 };
  let shedWrites = 0;
  let shedReads = 0;
  const pending = new Set<Promise<void>>();
  const launch = (kind: 'write' | 'read', fn: () => Promise<void>): boolean => {
    if (inFlight[kind] >= (scenario.maxInFlight ?? workload.maxInFlight)) return false;
    inFlight[kind]++;
    const pr = fn().finally(() => {
      inFlight[kind]--;
      pending.delete(pr);
    });
    pending.add(pr);
    return true;
  };
  const doRead = async (key: string, record = true): Promise<void> => {
    const fileId = fileIds.get(key);
    if (!fileId) return;
    const id = history.invokeRead(key);
    const started = performance.now();
    const out = await client.download(fileId);
    const ms = performance.now() - started;
    if (out.ok) history.readOk(id, out.value === null ? null : sha256(out.value), out.version);
    else history.readFail(id, out.cause);
    if (record) ops.push(sample('read', started - t0, ms, out, phaseOf(started - t0)));
  };

  let writesIssued = 0;
  let readsIssued = 0;
  let faulted = false;
  let healedAt: number | undefined;
  // Started at the heal, while the load goes on (see waitForHealedBacklog).
  let converged: Promise<{ ms: number | null; known: boolean }> | undefined;
  const pick = () => keys[Math.floor(Math.random() * keys.length)] as string;
  while (true) {
    const now = performance.now() - t0;
    if (now >= durationMs) break;
    if (scenario.partition && !faulted && now >= faultStart) {
      faulted = true;
      await applyPicture(sut, faulty);
      log(`    fault on: ${describePicture(faulty)}`);
    }
    if (scenario.partition && faulted && healedAt === undefined && now >= faultEnd) {
      await applyPicture(sut, healthy);
      healedAt = performance.now();
      converged = waitForHealedBacklog(client, healedAt, timings.afterMs + timings.convergenceTimeoutMs);
      log('    healed');
    }
    const wantWrites = Math.floor((now / 1000) * scenario.writeRate);
    while (writesIssued < wantWrites) {
      writesIssued++;
      const key = pick();
      if (!launch('write', () => doWrite(key, t0, phaseOf, ops))) shedWrites++;
    }
    const wantReads = Math.floor((now / 1000) * scenario.readRate);
    while (readsIssued < wantReads) {
      readsIssued++;
      const key = pick();
      if (!launch('read', () => doRead(key))) shedReads++;
    }
    await sleep(5);
  }
  await Promise.allSettled([...pending]);
  if (healedAt === undefined) {
    if (hasFaults) await applyPicture(sut, healthy);
    healedAt = performance.now();
  }

  // Convergence: heal -> the copies the fault left are made (the controller's status, polled from
  // the heal on), else every acked chunk on every replica (the emulators' disks, after the load).
  const conv = await (converged ?? waitForHealedBacklog(client, healedAt, timings.convergenceTimeoutMs));
  let convergenceMs = conv.ms;
  let convergenceSource: ScenarioResult['convergenceSource'] = conv.known ? 'status' : 'none';
  if (!conv.known && tracker) {
    convergenceSource = 'replica-files';
    convergenceMs = await tracker.waitFull(healedAt, timings.convergenceTimeoutMs);
  }
  stopStatus = true;
  await statusLoop;

  // After heal: one more read of every key (judged like any read) and every acked write's version.
  await Promise.all(keys.map((key) => doRead(key, false)));
  const refs = [...writeRefs.entries()];
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < refs.length) {
        const [writeId, ref] = refs[next++] as [number, { fileId: string; version: string; hash: string }];
        let out: Outcome<Buffer | null> | undefined;
        for (let attempt = 0; attempt < 3; attempt++) {
          out = await client.download(ref.fileId, ref.version || undefined);
          if (out.ok) break;
          await sleep(200);
        }
        if (out?.ok) history.verify(writeId, out.value === null ? null : sha256(out.value), out.value === null ? '404' : undefined);
        else history.verify(writeId, null, out && !out.ok ? out.message : 'no answer');
      }
    }),
  );

  const durability = tracker ? await tracker.finish() : unavailableDurability();
  const result = check(history.data(), { maxExamples: 3, collectIds: true });
  const faultReadIds = new Set(
    history
      .data()
      .ops.filter((o) => o.type === 'read' && o.status === 'ok' && o.start - t0 >= faultStart && o.start - t0 < faultEnd)
      .map((o) => o.id),
  );
  const staleDuringFault = (result.ids?.stale ?? []).filter((id) => faultReadIds.has(id)).length;

  const writes = ops.filter((o) => o.kind === 'write');
  const reads = ops.filter((o) => o.kind === 'read');
  const inFault = (o: OpSample) => o.phase === 'fault';
  const floorFault = physicalFloor(latenciesOf(faulty));
  const floorHealthy = physicalFloor(latenciesOf(healthy));

  return {
    profile: profile.name,
    strategy,
    scenario: scenario.name,
    title: scenario.title,
    partition: scenario.partition,
    durationMs,
    ...(scenario.partition ? { faultWindow: { start: faultStart, end: faultEnd } } : {}),
    write: { all: summarize(writes.filter((o) => o.ok).map((o) => o.ms)), fault: summarize(writes.filter((o) => o.ok && inFault(o)).map((o) => o.ms)) },
    read: { all: summarize(reads.filter((o) => o.ok).map((o) => o.ms)), fault: summarize(reads.filter((o) => o.ok && inFault(o)).map((o) => o.ms)) },
    availability: {
      writes: availability(writes, shedWrites),
      reads: availability(reads, shedReads),
      duringFault: availability(ops.filter(inFault), 0),
    },
    checker: {
      ...result.counts,
      valid: result.valid,
      examples: result.examples.map((e) => e.message),
      staleDuringFault,
      readsOkDuringFault: faultReadIds.size,
    },
    convergenceMs,
    convergenceSource,
    modes: modeStats(status, writes, durationMs),
    durability,
    floor: { fastestMs: floorFault.fastest, majorityMs: floorFault.majorityTh, healthyFastestMs: floorHealthy.fastest, healthyMajorityMs: floorHealthy.majorityTh },
    ops,
    status,
  };
}

function sample<T>(kind: 'write' | 'read', t: number, ms: number, out: Outcome<T>, phase: Phase): OpSample {
  return { t, kind, ms, ok: out.ok, phase, ...(out.ok ? {} : { cause: out.cause }), ...(out.mode ? { mode: out.mode } : {}) };
}

function availability(ops: readonly OpSample[], shed: number): Availability {
  const causes: Record<string, number> = {};
  let ok = 0;
  for (const o of ops) {
    if (o.ok) ok++;
    else causes[o.cause ?? 'other'] = (causes[o.cause ?? 'other'] ?? 0) + 1;
  }
  return { ok, attempted: ops.length, shed, causes, pct: pct(ok, ops.length) };
}

/** Time in each mode and the number of switches, from the status samples (else from write headers). */
function modeStats(status: readonly StatusSample[], writes: readonly OpSample[], durationMs: number): ScenarioResult['modes'] {
  const writesByMode: Record<string, number> = {};
  for (const w of writes) if (w.mode) writesByMode[w.mode] = (writesByMode[w.mode] ?? 0) + 1;
  const timeMs: Record<string, number> = {};
  let switches = 0;
  const withMode = status.filter((s) => s.mode !== undefined && s.t <= durationMs);
  let source: ScenarioResult['modes']['source'] = 'status';
  let series: { t: number; mode: string }[] = withMode.map((s) => ({ t: s.t, mode: s.mode as string }));
  if (series.length === 0) {
    source = writes.some((w) => w.mode) ? 'header' : 'none';
    series = [...writes].filter((w) => w.mode).sort((a, b) => a.t - b.t).map((w) => ({ t: w.t, mode: w.mode as string }));
  }
  for (let i = 0; i < series.length; i++) {
    const cur = series[i] as { t: number; mode: string };
    const end = i + 1 < series.length ? (series[i + 1] as { t: number }).t : durationMs;
    timeMs[cur.mode] = (timeMs[cur.mode] ?? 0) + Math.max(0, Math.min(end, durationMs) - cur.t);
    if (i > 0 && (series[i - 1] as { mode: string }).mode !== cur.mode) switches++;
  }
  let deadlinePathMs = 0;
  withMode.forEach((s, i) => {
    if (s.mode !== 'C' || s.writePath !== 'deadline') return;
    const end = i + 1 < withMode.length ? (withMode[i + 1] as { t: number }).t : durationMs;
    deadlinePathMs += Math.max(0, Math.min(end, durationMs) - s.t);
  });
  return { timeMs, switches, source, writesByMode, deadlinePathMs };
}

function describePicture(p: Record<string, FaultSettingsLike>): string {
  return Object.entries(p)
    .map(([r, s]) => `${r}=${s.state}${s.latency_ms ? `+${s.latency_ms}ms` : ''}${s.loss ? ` loss ${s.loss}` : ''}`)
    .join(', ');
}

function unavailableDurability(): DurabilityStats {
  return { method: 'unavailable', tracked: 0, underMajorityAtAck: 0, claimedNotFound: 0, window: summarize([]), stillUnderMajority: 0, fullyReplicated: 0 };
}

/**
 * The durability window of each acknowledged chunk: the time from its acknowledgement until a
 * majority of replicas hold a complete copy, observed on the emulators' disks.
 *
 * Whether the majority held the write at the ack is what the server said in the answer
 * (`ack.replicas_acked`): checking the disks only after the answer has arrived would miss copies
 * that landed in between and report a window of 0. A write acknowledged by fewer than a majority
 * opens a window at the ack that closes when the disks show the majority (checked right away, then
 * every 100 ms: an upper bound with at most 100 ms of error). A write the server says a majority
 * held is checked on disk too; if the copies are not there, it counts as `claimedNotFound` and its
 * window stays open like any other. Without the server's figure, the disks alone decide.
 */
export class DurabilityTracker {
  private readonly open = new Map<string, number>();
  private readonly windows: number[] = [];
  private readonly all = new Set<string>();
  private underAtAck = 0;
  private claimedNotFound = 0;
  private readonly timer: NodeJS.Timeout;
  private checking = false;
  private readonly firstChecks = new Set<Promise<void>>();

  constructor(
    private readonly files: ReplicaFiles,
    private readonly q: number,
    private readonly n: number,
  ) {
    this.timer = setInterval(() => void this.sweep(), 100);
  }

  ack(hash: string, replicasAtAck?: number): void {
    const at = performance.now();
    this.all.add(hash);
    const under = replicasAtAck !== undefined && replicasAtAck < this.q;
    if (under) {
      this.underAtAck++;
      this.open.set(hash, at);
    }
    const first = this.files.copies(hash).then((c) => {
      if (under) {
        if (c >= this.q && this.open.delete(hash)) this.windows.push(performance.now() - at);
      } else if (c >= this.q) this.windows.push(0);
      else {
        if (replicasAtAck !== undefined) this.claimedNotFound++;
        else this.underAtAck++;
        this.open.set(hash, at);
      }
    });
    this.firstChecks.add(first);
    void first.finally(() => this.firstChecks.delete(first));
  }

  private async sweep(): Promise<void> {
    if (this.checking || this.open.size === 0) return;
    this.checking = true;
    try {
      for (const [hash, at] of [...this.open]) {
        if ((await this.files.copies(hash)) >= this.q) {
          this.windows.push(performance.now() - at);
          this.open.delete(hash);
        }
      }
    } finally {
      this.checking = false;
    }
  }

  /** Wait until every acked chunk is on every replica; ms from `since`, or null on timeout. */
  async waitFull(since: number, timeoutMs: number): Promise<number | null> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if ((await this.fullCount()) === this.all.size) return performance.now() - since;
      await sleep(100);
    }
    return null;
  }

  private async fullCount(): Promise<number> {
    let full = 0;
    for (const h of this.all) if ((await this.files.copies(h)) >= this.n) full++;
    return full;
  }

  /** What is known so far, without ending the tracking. */
  peek(): { open: number; claimedNotFound: number; underMajorityAtAck: number } {
    return { open: this.open.size, claimedNotFound: this.claimedNotFound, underMajorityAtAck: this.underAtAck };
  }

  async finish(): Promise<DurabilityStats> {
    clearInterval(this.timer);
    await Promise.allSettled([...this.firstChecks]);
    while (this.checking) await sleep(10);
    await this.sweep();
    const now = performance.now();
    const still = this.open.size;
    const windows = [...this.windows, ...[...this.open.values()].map((at) => now - at)];
    return {
      method: 'replica-files',
      tracked: this.all.size,
      underMajorityAtAck: this.underAtAck,
      claimedNotFound: this.claimedNotFound,
      window: summarize(windows),
      stillUnderMajority: still,
      fullyReplicated: await this.fullCount(),
    };
  }
}
