/**
 * The latency-aware write path of the controller's strong mode, with a fake clock and write
 * latencies fed by hand: a fast, level cluster stays on plain strong; one replica turning slow (so
 * that the majority needs a far one) takes the deadline path, audited and shown in the status; a
 * replica that stops answering looks slow at once through its oldest write in flight; a majority
 * beyond the durability budget stays strong (the controller's own rules handle it); critical keys,
 * overrides and strong hints keep exact strong semantics; recovery returns to plain strong (with
 * hysteresis and a dwell time, so estimates near the threshold do not flap). And
 * the acknowledgement rule the path hands to the chunk writer (acks.ts).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_CONTROLLER } from '#shared/config.js';
import { MemoryControllerStore } from '#shared/controller/memory-store.js';
import { ControllerService, WRITE_PATH_ACTION } from '#shared/controller/service.js';
import { majorityWaitMs, proposeWritePath, WRITE_PATH, type ReplicaWriteEstimate } from '#shared/controller/write-path.js';
import { awaitAcks, type Attempt } from '#shared/storage/acks.js';

const REGIONS = ['r0', 'r1', 'r2'];
const ADMIN = { id: 'admin-1', email: 'admin@example.com', role: 'admin' as const };
const OWNER = '8d3c3a52-6f0e-4a55-9a51-6c6a3c0c1f00';

function rig(budgetMs = 1000) {
  let t = 1_000_000;
  const clock = { now: () => t };
  const store = new MemoryControllerStore({ clock });
  const service = new ControllerService({
    store,
    regions: REGIONS,
    clock,
    controller: { ...DEFAULT_CONTROLLER, durabilityBudgetMs: budgetMs },
    sleep: async (ms) => {
      t += ms;
    },
  });
  /** One chunk write to `region` that takes `ms` on the fake clock. */
  const write = (region: string, ms: number) => {
    const end = service.writeStarted(region);
    t += ms;
    end(true);
  };
  /** `n` rounds of one write per region, with these latencies (a full estimate window by default). */
  const rounds = (ms: Record<string, number>, n: number = WRITE_PATH.windowOps) => {
    for (let i = 0; i < n; i++) for (const r of REGIONS) write(r, ms[r] as number);
  };
  const pathAudit = () => store.audit.filter((e) => e.action === WRITE_PATH_ACTION);
  return { service, store, clock, rounds, write, pathAudit, advance: (ms: number) => (t += ms) };
}

describe('the write path of the strong mode', () => {
  it('a fast, level cluster stays on plain strong: writes wait for a majority and nothing is audited', async () => {
    const r = rig();
    r.rounds({ r0: 5, r1: 6, r2: 8 });
    const d = await r.service.modeFor(OWNER, 'a.bin');
    expect(d.mode).toBe('C');
    expect(d.writePath).toBeUndefined();
    const s = await r.service.status();
    expect(s.write_path).toMatchObject({ path: 'strong', wait_ms: null, fastest_ms: 5, majority_ms: 6, budget_ms: 1000 });
    expect(s.write_path.replicas.map((x) => x.estimate_ms)).toEqual([5, 6, 8]);
    expect(r.pathAudit()).toEqual([]);
  });

  it('without observations of every replica (a new container) writes stay strong', async () => {
    const r = rig();
    r.write('r0', 5);
    expect((await r.service.modeFor(OWNER, 'a.bin')).writePath).toBeUndefined();
    expect((await r.service.status()).write_path.reason).toMatch(/no recent write latency for r1, r2/);
  });

  it('one replica turning slow, so that a majority needs a far one, takes the deadline path: audited, in the status, the mode still C', async () => {
    const r = rig();
    r.rounds({ r0: 10, r1: 20, r2: 60 });
    expect((await r.service.modeFor(OWNER, 'a.bin')).writePath).toBeUndefined(); // 20 ms ≤ 1.2 × 10 + 15
    r.rounds({ r0: 10, r1: 220, r2: 60 });
    const d = await r.service.modeFor(OWNER, 'a.bin');
    expect(d.mode).toBe('C');
    expect(d.writePath).toMatchObject({ waitMs: majorityWaitMs(10), estimatesMs: { r0: 10, r1: 220, r2: 60 } });
    expect(d.writePath?.waitMs).toBe(12);
    expect(d.reason).toMatch(/deadline path/);

    const audit = r.pathAudit();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ kind: 'transition', actor: 'controller', detail: { path: 'deadline', from_path: 'strong', wait_ms: 12, fastest_ms: 10, majority_ms: 60, budget_ms: 1000 } });
    expect(audit[0]?.reason).toMatch(/^write path strong → deadline: the majority-th fastest replica \(r2, 60 ms\)/);

    const s = await r.service.status();
    expect(s.mode).toBe('C');
    expect(s.write_path).toMatchObject({ path: 'deadline', wait_ms: 12, fastest_ms: 10, majority_ms: 60, last_change: { path: 'deadline' } });
    expect(s.write_path.since).not.toBeNull();
    // A change of write path is not a mode transition: the mode's reason stays the controller's.
    expect(s.transitions).toEqual([]);
    // Asking again changes nothing and audits nothing more.
    await r.service.modeFor(OWNER, 'b.bin');
    expect(r.pathAudit()).toHaveLength(1);
  });

  it('a few stalled writes of a near replica (a busy server) do not make it look slow: the estimate is the median', async () => {
    const r = rig();
    r.rounds({ r0: 10, r1: 20, r2: 60 }, WRITE_PATH.windowOps - 2);
    r.write('r1', 400);
    r.write('r1', 450); // two stalls in twenty writes: the P95, not the median
    const d = await r.service.modeFor(OWNER, 'a.bin');
    expect(d.writePath).toBeUndefined();
    const view = (await r.service.status()).write_path.replicas.find((x) => x.region === 'r1');
    expect(view).toMatchObject({ p50_ms: 20, p95_ms: 400, estimate_ms: 20 });
    expect(r.pathAudit()).toEqual([]);
  });

  it('a replica that stops answering looks slow at once: its oldest write in flight raises its estimate', async () => {
    const r = rig();
    r.rounds({ r0: 10, r1: 20, r2: 60 });
    expect((await r.service.modeFor(OWNER, 'a.bin')).writePath).toBeUndefined();
    r.service.writeStarted('r1'); // never answers
    r.advance(100);
    const d = await r.service.modeFor(OWNER, 'a.bin');
    expect(d.writePath?.estimatesMs.r1).toBe(100);
    expect(d.writePath?.waitMs).toBe(12);
    const view = (await r.service.status()).write_path.replicas.find((x) => x.region === 'r1');
    expect(view).toMatchObject({ p95_ms: 20, in_flight_ms: 100, estimate_ms: 100 });
  });

  it('a replica the health picture judges unreachable counts as infinitely slow', async () => {
    const r = rig();
    r.rounds({ r0: 10, r1: 20, r2: 60 });
    r.service.observe('r1', { ok: false, latencyMs: 1, error: 'refused' });
    r.service.observe('r1', { ok: false, latencyMs: 1, error: 'refused' });
    const d = await r.service.modeFor(OWNER, 'a.bin');
    expect(d.writePath?.estimatesMs.r1).toBe(Number.POSITIVE_INFINITY);
    const s = await r.service.status();
    expect(s.write_path).toMatchObject({ path: 'deadline', fastest_ms: 10, majority_ms: 60 });
    expect(s.write_path.replicas.find((x) => x.region === 'r1')).toMatchObject({ reachable: false, estimate_ms: null });
  });

  it('a majority slower than the durability budget stays strong, and the controller mode is left to the controller', async () => {
    const r = rig();
    r.rounds({ r0: 10, r1: 1500, r2: 1600 }, 3);
    const d = await r.service.modeFor(OWNER, 'a.bin');
    expect(d.mode).toBe('C');
    expect(d.writePath).toBeUndefined();
    const s = await r.service.status();
    expect(s.write_path.path).toBe('strong');
    expect(s.write_path.reason).toMatch(/beyond the durability budget of 1000 ms/);
    expect(s.mode).toBe('C');
    expect(r.store.state.mode).toBe('C');
    expect(r.store.state.version).toBe(0); // the write path never touches the controller state
  });

  it('from the deadline path, a majority going beyond the budget returns to strong at once (no dwell)', async () => {
    const r = rig(300);
    r.rounds({ r0: 10, r1: 100, r2: 200 });
    expect((await r.service.modeFor(OWNER, 'a.bin')).writePath).toBeDefined();
    r.service.writeStarted('r1');
    r.service.writeStarted('r2');
    r.advance(350); // within the dwell time of the change just made
    expect((await r.service.modeFor(OWNER, 'a.bin')).writePath).toBeUndefined();
    expect(r.pathAudit().map((e) => e.detail?.path)).toEqual(['deadline', 'strong']);
  });

  it('a critical key, a per-object or global override and a strong hint keep exact strong semantics on the deadline path', async () => {
    const r = rig();
    r.rounds({ r0: 10, r1: 220, r2: 60 });
    expect((await r.service.modeFor(OWNER, 'plain.bin')).writePath).toBeDefined();

    await r.service.addCriticalKey(ADMIN, 'vault/*');
    const critical = await r.service.modeFor(OWNER, 'vault/keys.bin');
    expect(critical).toMatchObject({ mode: 'C', reason: 'critical key: always strong' });
    expect(critical.writePath).toBeUndefined();

    await r.service.setOverride(ADMIN, 'C', 'pinned.bin');
    const pinned = await r.service.modeFor(OWNER, 'pinned.bin');
    expect(pinned).toMatchObject({ mode: 'C', reason: 'per-object override (C)' });
    expect(pinned.writePath).toBeUndefined();

    await r.service.setHint(ADMIN, 'careful.bin', 'strong');
    const hinted = await r.service.modeFor(OWNER, 'careful.bin');
    expect(hinted.mode).toBe('C');
    expect(hinted.writePath).toBeUndefined();

    expect((await r.service.modeFor(OWNER, 'plain.bin')).writePath).toBeDefined();
    await r.service.setOverride(ADMIN, 'C');
    const global = await r.service.modeFor(OWNER, 'plain.bin');
    expect(global).toMatchObject({ mode: 'C', reason: 'global override (C)' });
    expect(global.writePath).toBeUndefined();
  });

  it('when the replicas recover and stay level for the hold time, writes return to plain strong, and the return is audited', async () => {
    const r = rig();
    r.rounds({ r0: 10, r1: 220, r2: 60 });
    expect((await r.service.modeFor(OWNER, 'a.bin')).writePath).toBeDefined();
    r.rounds({ r0: 10, r1: 20, r2: 60 }); // a full window of fast writes, 1.8 s: past the dwell time
    const first = await r.service.modeFor(OWNER, 'a.bin'); // level from now on
    expect(first.writePath).toBeDefined();
    expect(first.reason).toMatch(/held: the replicas have been level for less than 3000 ms/);
    r.advance(WRITE_PATH.levelHoldMs - 1);
    expect((await r.service.modeFor(OWNER, 'a.bin')).writePath).toBeDefined();
    r.advance(1);
    const d = await r.service.modeFor(OWNER, 'a.bin');
    expect(d.writePath).toBeUndefined();
    expect(r.pathAudit().map((e) => e.detail?.path)).toEqual(['deadline', 'strong']);
    expect((await r.service.status()).write_path).toMatchObject({ path: 'strong', last_change: { path: 'strong' } });
  });

  it('a change of path within the dwell time of the last one is held', async () => {
    const r = rig();
    r.rounds({ r0: 10, r1: 20, r2: 60 }, 1);
    r.write('r1', 220);
    r.write('r1', 220); // two slow writes of three are its median
    expect((await r.service.modeFor(OWNER, 'a.bin')).writePath).toBeDefined();
    for (let i = 0; i < 20; i++) r.write('r1', 20); // the median is back at 20 ms, 0.4 s after the change
    const held = await r.service.currentWritePath();
    expect(held).toMatchObject({ path: 'deadline', cause: 'slow-majority' });
    expect(held.reason).toMatch(/held: the path changed less than 1000 ms ago/);
    r.advance(WRITE_PATH.dwellMs);
    const level = await r.service.currentWritePath(); // past the dwell time, level for 1 s
    expect(level).toMatchObject({ path: 'deadline' });
    expect(level.reason).toMatch(/held: the replicas have been level for less than 3000 ms/);
    r.advance(WRITE_PATH.levelHoldMs - WRITE_PATH.dwellMs);
    expect((await r.service.currentWritePath()).path).toBe('strong');
  });

  it('estimates between the two thresholds (a noisy recovery) do not interrupt the hold', async () => {
    const r = rig();
    r.rounds({ r0: 10, r1: 220, r2: 60 });
    expect((await r.service.modeFor(OWNER, 'a.bin')).writePath).toBeDefined();
    r.rounds({ r0: 10, r1: 20, r2: 60 }); // level: 20 ≤ 1.1 × 10 + 10
    expect((await r.service.currentWritePath()).path).toBe('deadline'); // the hold starts
    r.rounds({ r0: 10, r1: 25, r2: 60 }, 11); // 1 s with r1's median at 25 ms: not level, not slow (≤ 1.2 × 10 + 15)
    expect((await r.service.currentWritePath()).cause).toBe('slow-majority');
    r.rounds({ r0: 10, r1: 20, r2: 60 }, 11); // level again, 2 s after the hold started
    expect((await r.service.currentWritePath()).path).toBe('deadline');
    r.advance(1000);
    expect((await r.service.currentWritePath()).path).toBe('strong');
  });

  it('a moment of level estimates between two slow spells does not end the deadline path: the hold starts again', async () => {
    const r = rig();
    r.rounds({ r0: 10, r1: 220, r2: 60 });
    expect((await r.service.modeFor(OWNER, 'a.bin')).writePath).toBeDefined();
    r.rounds({ r0: 10, r1: 20, r2: 60 }, 11); // the median of r1 is back at 20 ms: level
    expect((await r.service.currentWritePath()).path).toBe('deadline');
    r.advance(WRITE_PATH.levelHoldMs - 500);
    r.rounds({ r0: 10, r1: 220, r2: 60 }, 12); // slow again: 12 of r1's last 20 writes took 220 ms
    expect((await r.service.currentWritePath()).cause).toBe('slow-majority');
    r.rounds({ r0: 10, r1: 20, r2: 60 }, 10); // level again: 10 of 20 at 20 ms
    expect((await r.service.currentWritePath()).path).toBe('deadline');
    r.advance(1000); // the first level moment was more than 3 s ago, the second 1 s ago
    expect((await r.service.currentWritePath()).path).toBe('deadline');
    r.advance(WRITE_PATH.levelHoldMs);
    expect((await r.service.currentWritePath()).path).toBe('strong');
    expect(r.pathAudit().map((e) => e.detail?.path)).toEqual(['deadline', 'strong']); // one change each way, oldest first
  });
});

describe('proposeWritePath (pure)', () => {
  const est = (ms: (number | null)[], reachable: boolean[] = ms.map(() => true)): ReplicaWriteEstimate[] =>
    ms.map((m, i) => ({ region: `r${i}`, reachable: reachable[i] as boolean, p50Ms: m, p95Ms: m, inFlightAgeMs: null, estimateMs: reachable[i] ? m : Number.POSITIVE_INFINITY, samples: 1 }));

  it('is off with a budget of 0 and with a single replica', () => {
    expect(proposeWritePath(est([1, 100, 200]), 2, 0)).toMatchObject({ path: 'strong', cause: 'off' });
    expect(proposeWritePath(est([1]), 1, 1000)).toMatchObject({ path: 'strong', cause: 'single' });
  });

  it('compares the majority-th fastest with 1.2 × the fastest + 15 ms, and clamps the wait to 10 ms–1 s', () => {
    expect(proposeWritePath(est([10, 27, 500]), 2, 1000)).toMatchObject({ path: 'strong', cause: 'level' });
    expect(proposeWritePath(est([10, 28, 500]), 2, 1000)).toMatchObject({ path: 'deadline', waitMs: 12 });
    // A busy server adds about the same time to every replica's writes: 250 against 330 ms still
    // makes a strong write 1.3 times an available one.
    expect(proposeWritePath(est([250, 330, 405]), 2, 1000)).toMatchObject({ path: 'deadline', waitMs: 300 });
    expect(proposeWritePath(est([250, 315, 405]), 2, 1000)).toMatchObject({ path: 'strong', cause: 'level' });
    expect(proposeWritePath(est([2, 70, 180]), 2, 1000)).toMatchObject({ path: 'deadline', waitMs: 10 });
    expect(proposeWritePath(est([900, 2000, 2100, 2200, 3000]), 3, 5000)).toMatchObject({ path: 'deadline', waitMs: 1000, majorityMs: 2100 });
  });

  it('once on the deadline path, returns to strong only within 1.1 × the fastest + 10 ms (no flapping near the threshold)', () => {
    expect(proposeWritePath(est([10, 26, 60]), 2, 1000, 'strong')).toMatchObject({ path: 'strong', cause: 'level' });
    expect(proposeWritePath(est([10, 26, 60]), 2, 1000, 'deadline')).toMatchObject({ path: 'deadline', waitMs: 12 });
    expect(proposeWritePath(est([10, 21, 60]), 2, 1000, 'deadline')).toMatchObject({ path: 'strong', cause: 'level' });
  });

  it('a majority unreachable is over budget (the emergency rule is the controller’s)', () => {
    expect(proposeWritePath(est([10, 20, 30], [true, false, false]), 2, 1000)).toMatchObject({ path: 'strong', cause: 'over-budget' });
    expect(proposeWritePath(est([10, 20, 30], [false, false, false]), 2, 1000)).toMatchObject({ path: 'strong', cause: 'unreachable' });
  });
});

describe('acknowledgements on the deadline path', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const deferred = () => {
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    done.catch(() => undefined);
    return { done, resolve, reject };
  };

  function attempts() {
    const d = { r0: deferred(), r1: deferred(), r2: deferred() };
    const list: Attempt[] = REGIONS.map((region) => ({ region, done: d[region as keyof typeof d].done }));
    return { d, list };
  }

  it('acknowledges with the one copy it holds once the estimates say no majority can arrive within the wait', async () => {
    const { d, list } = attempts();
    const out = awaitAcks(list, { mode: 'C', replicas: 3, alreadyPresent: 0, hybridDeadlineMs: 0, majorityWait: { waitMs: 12, estimatesMs: { r0: 10, r1: 220, r2: 60 } } });
    d.r0.resolve();
    await expect(out).resolves.toMatchObject({ satisfied: true, degraded: true, acked: ['r0'], inFlight: ['r1', 'r2'] });
  });

  it('takes a majority that arrives within the wait as a strong acknowledgement', async () => {
    const { d, list } = attempts();
    const out = awaitAcks(list, { mode: 'C', replicas: 3, alreadyPresent: 0, hybridDeadlineMs: 0, majorityWait: { waitMs: 1000, estimatesMs: { r0: 5, r1: 5, r2: 5 } } });
    d.r0.resolve();
    await Promise.resolve();
    d.r1.resolve();
    await expect(out).resolves.toMatchObject({ satisfied: true, degraded: false, acked: ['r0', 'r1'] });
  });

  it('when the wait runs out (stale estimates), acknowledges with the copies it has', async () => {
    vi.useFakeTimers();
    const { d, list } = attempts();
    let settled = false;
    const out = awaitAcks(list, { mode: 'C', replicas: 3, alreadyPresent: 0, hybridDeadlineMs: 0, majorityWait: { waitMs: 40, estimatesMs: { r0: 5, r1: 5, r2: 5 } } });
    void out.then(() => (settled = true));
    d.r0.resolve();
    await vi.advanceTimersByTimeAsync(39);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(out).resolves.toMatchObject({ satisfied: true, degraded: true, acked: ['r0'] });
  });

  it('fails when no replica acknowledges; plain strong never accepts fewer than a majority', async () => {
    const a = attempts();
    const deadline = awaitAcks(a.list, { mode: 'C', replicas: 3, alreadyPresent: 0, hybridDeadlineMs: 0, majorityWait: { waitMs: 12, estimatesMs: {} } });
    for (const x of Object.values(a.d)) x.reject(new Error('refused'));
    await expect(deadline).resolves.toMatchObject({ satisfied: false });

    vi.useFakeTimers();
    const b = attempts();
    let settled = false;
    const strong = awaitAcks(b.list, { mode: 'C', replicas: 3, alreadyPresent: 0, hybridDeadlineMs: 0 });
    void strong.then(() => (settled = true));
    b.d.r0.resolve();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(settled).toBe(false);
    b.d.r1.reject(new Error('refused'));
    b.d.r2.reject(new Error('refused'));
    await expect(strong).resolves.toMatchObject({ satisfied: false, acked: ['r0'] });
  });
});
