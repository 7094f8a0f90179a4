/**
 * The controller against a real dynalite: conditional transitions, persistence across a restart
 * of the emulator, the audit log, the prober's decisions and the cached mode lookup.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import dynalite from 'dynalite';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDynamoClients } from '#shared/clients.js';
import { DEFAULT_CONTROLLER, type ControllerConfig } from '#shared/config.js';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoControllerStore, TTL_ATTRIBUTE } from '#shared/controller/dynamo-store.js';
import { ControllerService } from '#shared/controller/service.js';
import { objectKey, type FileOwners } from '#shared/controller/targets.js';
import { HealthTracker } from '#shared/controller/health.js';
import { Prober } from '#shared/controller/prober.js';
import { step } from '#shared/controller/policy.js';
import type { ControllerMetrics, TickMetrics } from '#shared/controller/metrics.js';
import { MemoryObjectStore } from '#shared/storage/memory-store.js';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];
// A short cache lease: every operator change waits one lease before it is answered.
const cfg: ControllerConfig = { ...DEFAULT_CONTROLLER, probeTimeoutMs: 100, modeCacheMs: 100 };

let dir: string;
let server: Server;
let endpoint: string;
let tableN = 0;

async function startDynalite(path: string, port = 0): Promise<Server> {
  const s = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve());
  });
  return s;
}

async function stopDynalite(s: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
}

function makeStore(table: string, now?: () => number): DynamoControllerStore {
  const { client, doc } = createDynamoClients({ region: 'us-east-1', endpoint });
  return new DynamoControllerStore({ client, doc, table, clock: now ? { now } : undefined });
}

async function freshStore(now?: () => number): Promise<DynamoControllerStore> {
  const store = makeStore(`controller-${++tableN}`, now);
  await store.ensureTable();
  return store;
}

const recording = (): ControllerMetrics & { ticks: TickMetrics[] } => {
  const ticks: TickMetrics[] = [];
  return { ticks, tick: (m) => ticks.push(m), writeLatency: () => undefined };
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'echofs-controller-'));
  server = await startDynalite(join(dir, 'dynamo'));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  if (server?.listening) await stopDynalite(server);
  await rm(dir, { recursive: true, force: true });
});

describe('controller store on dynalite', () => {
  it('a prober tick stores its sample for the history (24 h TTL); a window reads samples and audit events oldest first', async () => {
    let now = Date.parse('2026-06-01T12:00:00Z');
    const store = await freshStore(() => now);
    const stores = REGIONS.map((r) => new MemoryObjectStore(r));
    const prober = new Prober({ stores, store, health: new HealthTracker(REGIONS, { failThreshold: 1 }), controller: cfg, metrics: recording(), clock: { now: () => now } });
    await prober.tick();
    now += 5000;
    for (const s of stores.slice(1)) s.state = 'refuse';
    await prober.tick();
    const w = { from: now - 60_000, to: now };
    const { samples, truncated } = await store.listSamples(w, 100);
    expect(truncated).toBe(false);
    expect(samples.map((s) => [s.at, s.mode, s.proposed, s.emergency])).toEqual([
      [now - 5000, 'C', 'C', false],
      [now, 'A', 'A', true],
    ]);
    expect(samples[1]?.parts.partition).toBeCloseTo(cfg.weights.partition * (2 / 3));
    // The item carries the table's TTL attribute, 24 h after the sample.
    const { doc } = createDynamoClients({ region: 'us-east-1', endpoint });
    const raw = await doc.send(new QueryCommand({ TableName: store.table, KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': 'SAMPLE' } }));
    expect(raw.Items?.map((i) => i[TTL_ATTRIBUTE])).toEqual([Math.floor((now - 5000) / 1000) + 86_400, Math.floor(now / 1000) + 86_400]);
    // A narrower window, the newest past a limit, and the transition as an audit entry of the window.
    expect((await store.listSamples({ from: now - 1000, to: now }, 100)).samples).toHaveLength(1);
    expect(await store.listSamples(w, 1)).toMatchObject({ samples: [{ at: now }], truncated: true });
    const audit = await store.listAuditBetween(w, 100);
    expect(audit.entries.map((e) => e.action)).toEqual(['emergency_transition']);
    expect((await store.listAuditBetween({ from: now + 1, to: now + 1000 }, 100)).entries).toEqual([]);
    // Past its TTL a sample is not answered, even before the table deletes it.
    now += 24 * 3_600_000 + 1000;
    expect((await store.listSamples(w, 100)).samples).toEqual([]);
  });

  it('two deciders racing from the same state: exactly one conditional write wins', async () => {
    const store = await freshStore();
    const s0 = await store.getState();
    const emergency = { inputs: { partition: 1, lag: 0, writes: 0, hint: 0, penalty: 0 }, reachable: 0, total: 3 };
    const a = step(s0, emergency, 1000, cfg);
    const b = step(s0, emergency, 1001, cfg);
    expect(a.changed && b.changed).toBe(true);
    const results = await Promise.all([store.saveState(a.state, s0), store.saveState(b.state, s0)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const stored = await store.getState();
    expect(stored.mode).toBe('A');
    expect(stored.version).toBe(1);
  });

  it('two probers ticking at once in a partition record exactly one transition', async () => {
    const store = await freshStore();
    // Both deciders read the state before either writes: a barrier on getState.
    let waiting: (() => void)[] = [];
    const realGet = store.getState.bind(store);
    store.getState = async () => {
      const s = await realGet();
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length === 2) {
          waiting.forEach((r) => r());
          waiting = [];
        }
      });
      return s;
    };
    const mk = () => {
      const stores = REGIONS.map((r) => new MemoryObjectStore(r));
      for (const s of stores.slice(1)) s.state = 'refuse';
      const health = new HealthTracker(REGIONS, { failThreshold: 1 });
      return new Prober({ stores, store, health, controller: cfg, metrics: recording() });
    };
    const [r1, r2] = await Promise.all([mk().tick(), mk().tick()]);
    expect([r1.conflict, r2.conflict].sort()).toEqual([false, true]);
    const winner = r1.conflict ? r2 : r1;
    expect(winner.step?.to).toBe('A');
    expect(winner.step?.emergency).toBe(true);
    store.getState = realGet;
    expect((await store.getState()).mode).toBe('A');
    const audit = await store.listAudit({ limit: 10 });
    expect(audit.entries.filter((e) => e.kind === 'transition')).toHaveLength(1);
  });

  it('state (with its reason), overrides, critical keys and hints survive a restart of the emulator and a new store', async () => {
    const table = `controller-${++tableN}`;
    let store = makeStore(table);
    await store.ensureTable();
    const s0 = await store.getState();
    const next = step(s0, { inputs: { partition: 1, lag: 0, writes: 0, hint: 0, penalty: 0 }, reachable: 0, total: 3 }, 5000, cfg);
    expect(await store.saveState(next.state, s0)).toBe(true);
    await store.setOverride('H', 'admin@example.com', 'report.pdf');
    await store.setOverride('A', 'admin@example.com');
    await store.addCriticalKey('ledger.db', 'admin@example.com');
    await store.setHint('photo.jpg', 'available', 'u1');

    const port = (server.address() as AddressInfo).port;
    await stopDynalite(server);
    server = await startDynalite(join(dir, 'dynamo'), port);

    store = makeStore(table);
    await store.ensureTable();
    const snap = await store.snapshot();
    expect(snap.state.mode).toBe('A');
    expect(snap.state.samples).toHaveLength(1);
    expect(snap.state.version).toBe(1);
    expect(snap.state.reason).toBe(next.reason);
    expect((await store.getState()).reason).toBe(next.reason);
    expect(snap.globalOverride?.mode).toBe('A');
    expect(snap.objectOverrides.get('report.pdf')?.mode).toBe('H');
    expect([...snap.criticalKeys.keys()]).toEqual(['ledger.db']);
    expect(await store.getHint('photo.jpg')).toBe('available');
    expect(await store.getHint('other')).toBe('none');
  });

  it('audit log reads newest first, page by page with a cursor', async () => {
    let t = Date.UTC(2026, 0, 1);
    const store = await freshStore(() => t);
    for (let i = 0; i < 5; i++) {
      t += 1000;
      await store.appendAudit({ kind: 'operator', actor: 'admin', action: `action-${i}`, reason: `r${i}` });
    }
    const p1 = await store.listAudit({ limit: 2 });
    expect(p1.entries.map((e) => e.action)).toEqual(['action-4', 'action-3']);
    expect(p1.cursor).toBeDefined();
    const p2 = await store.listAudit({ limit: 2, cursor: p1.cursor });
    expect(p2.entries.map((e) => e.action)).toEqual(['action-2', 'action-1']);
    const p3 = await store.listAudit({ limit: 2, cursor: p2.cursor });
    expect(p3.entries.map((e) => e.action)).toEqual(['action-0']);
    await expect(store.listAudit({ cursor: 'not-a-cursor' })).rejects.toMatchObject({ status: 400 });
  });
});

describe('controller service on dynalite', () => {
  const alice = { id: '11111111-1111-4111-8111-111111111111', email: 'alice@example.com', role: 'user' as const };
  const admin = { id: '22222222-2222-4222-8222-222222222222', email: 'admin@example.com', role: 'admin' as const };
  const fileId = '33333333-3333-4333-8333-333333333333';
  const owners: FileOwners = { lookup: async (id) => (id === fileId ? { ownerId: alice.id, name: 'notes.txt' } : undefined) };

  it('resolves per object: critical key, overrides, hints; operator actions are audited', async () => {
    const store = await freshStore();
    const svc = new ControllerService({ store, regions: REGIONS, controller: cfg, owners });
    expect((await svc.modeFor(alice.id, 'notes.txt')).mode).toBe('C');

    await svc.setHint(alice, fileId, 'available');
    // The data path asks by name and owner; the API by file id: both see the hint.
    expect((await svc.modeFor(alice.id, 'notes.txt')).mode).toBe('H');
    expect((await svc.modeAnswer(fileId)).mode).toBe('H');
    expect((await svc.modeFor(admin.id, 'notes.txt')).mode).toBe('C');

    await expect(svc.setHint(alice, '44444444-4444-4444-8444-444444444444', 'strong')).rejects.toMatchObject({ status: 404 });
    await expect(svc.setHint({ ...alice, id: admin.id, role: 'user' }, fileId, 'strong')).rejects.toMatchObject({ status: 404 });
    await svc.setHint(admin, 'free-form-object', 'available');

    await svc.setOverride(admin, 'A');
    expect(await svc.modeFor(alice.id, 'anything')).toMatchObject({ mode: 'A', reason: 'global override (A)' });
    await svc.setOverride(admin, 'H', objectKey(alice.id, 'notes.txt'));
    expect((await svc.modeFor(alice.id, 'notes.txt')).mode).toBe('H');
    await svc.addCriticalKey(admin, 'notes.txt');
    expect(await svc.modeFor(alice.id, 'notes.txt')).toMatchObject({ mode: 'C', reason: 'critical key: always strong' });
    await svc.addCriticalKey(admin, 'ledger/*');
    expect((await svc.modeFor(alice.id, 'ledger/2026.csv')).mode).toBe('C');

    expect(await svc.removeCriticalKey(admin, 'notes.txt')).toMatchObject({ key: 'notes.txt', file_id: null });
    expect(await svc.removeCriticalKey(admin, 'notes.txt')).toBeUndefined();
    expect((await svc.clearOverride(admin)).cleared).toBe(true);
    expect((await svc.clearOverride(admin)).cleared).toBe(false);

    // A second service (another Lambda instance) sees the same state.
    const other = new ControllerService({ store: makeStore(store.table), regions: REGIONS, controller: cfg });
    expect((await other.modeFor(alice.id, 'notes.txt')).mode).toBe('H');
    expect((await other.listCriticalKeys()).map((k) => k.key)).toEqual(['ledger/*']);

    const audit = await svc.auditLog({ limit: 20 });
    expect(audit.entries.map((e) => e.action)).toEqual([
      'clear_override',
      'remove_critical_key',
      'add_critical_key',
      'add_critical_key',
      'set_override',
      'set_override',
      'set_hint',
      'set_hint',
    ]);
    expect(audit.entries.every((e) => e.kind === 'operator' && e.actor.length > 0)).toBe(true);
  });

  it('prober: majority unreachable → A at once; healed → C after 3 samples; health shared via the store', async () => {
    let t = Date.UTC(2026, 0, 1);
    const now = () => t;
    const store = await freshStore(now);
    const stores = REGIONS.map((r) => new MemoryObjectStore(r));
    const health = new HealthTracker(REGIONS, { clock: { now } });
    const svc = new ControllerService({ store, regions: REGIONS, controller: { ...cfg, penaltyMs: 0 }, health, clock: { now } });
    const metrics = recording();
    const prober = new Prober({ stores, store, health, controller: { ...cfg, penaltyMs: 0 }, service: svc, metrics, clock: { now } });
    const tick = async () => {
      t += 5000;
      return prober.tick();
    };

    expect((await tick()).step?.to).toBe('C');
    stores[1]!.latencyMs = 10_000; // black-holed: every probe times out
    stores[2]!.state = 'refuse';
    // A failed probe is confirmed at once within the tick: the partition is seen in one tick.
    const first = await tick();
    expect(first.step).toMatchObject({ to: 'A', emergency: true, changed: true });
    expect((await svc.modeFor('owner', 'x')).mode).toBe('A');

    // Another process adopts the prober's picture from the store.
    const reader = new ControllerService({ store: makeStore(store.table, now), regions: REGIONS, controller: cfg, clock: { now } });
    await reader.modeFor('owner', 'x');
    expect(reader.ranked(REGIONS)).toEqual(['us-east-1']);

    stores[1]!.latencyMs = 0;
    stores[2]!.state = 'up';
    const modes: string[] = [];
    for (let i = 0; i < 4; i++) modes.push((await tick()).step?.to ?? '?');
    // Two successes to be judged reachable again, then 3 calm samples.
    expect(modes).toEqual(['A', 'A', 'A', 'C']);
    const transitions = (await store.listAudit({ limit: 10 })).entries.filter((e) => e.kind === 'transition');
    expect(transitions.map((e) => `${e.from}->${e.to}`)).toEqual(['A->C', 'C->A']);
    expect(transitions[1]?.inputs?.partition).toBeCloseTo(2 / 3, 9);
    expect(metrics.ticks.at(-1)).toMatchObject({ mode: 'C', changed: true });
    expect(metrics.ticks.find((m) => m.mode === 'A')?.probes.filter((p) => !p.reachable)).toHaveLength(2);
  });

  it("the data path's observations are stored by flush() and reach another process's picture on refreshHealth()", async () => {
    let t = Date.UTC(2026, 0, 2);
    const now = () => t;
    const store = await freshStore(now);
    const files = new ControllerService({ store, regions: REGIONS, controller: cfg, clock: { now } });
    files.observe('eu-west-1', { ok: false, latencyMs: 5, error: 'refused' });
    files.observe('eu-west-1', { ok: false, latencyMs: 5, error: 'refused' });
    files.observe('us-east-1', { ok: true, latencyMs: 7 });
    // ranked() answers from the picture as it is: nothing is read from the store.
    expect(files.ranked(REGIONS)).toEqual(['us-east-1', 'ap-southeast-1']);
    await files.flush();

    t += 1000;
    const prober = new ControllerService({ store: makeStore(store.table, now), regions: REGIONS, controller: cfg, clock: { now } });
    expect(prober.health.isReachable('eu-west-1')).toBe(true);
    expect(prober.ranked(REGIONS)).toEqual(REGIONS);
    await prober.refreshHealth();
    expect(prober.health.isReachable('eu-west-1')).toBe(false);
    expect(prober.health.snapshot('us-east-1').ewmaMs).toBe(7);
    // Nothing new observed: a second flush stores nothing and does not fail.
    await files.flush();
  });

  it('prober: a single lost probe does not flip a replica or the mode', async () => {
    const store = await freshStore();
    const stores = REGIONS.map((r) => new MemoryObjectStore(r));
    const health = new HealthTracker(REGIONS);
    const prober = new Prober({ stores, store, health, controller: cfg, metrics: recording() });
    // eu-west-1 loses exactly one request (the first probe's put), then answers again.
    let lost = 0;
    const flaky = stores[1]!;
    const realPut = flaky.put.bind(flaky);
    flaky.put = async (key, body, signal) => {
      if (lost++ === 0) throw new Error('connection reset');
      return realPut(key, body, signal);
    };
    const r = await prober.tick();
    expect(r.probes.every((p) => p.ok)).toBe(true);
    expect(health.isReachable('eu-west-1')).toBe(true);
    expect(health.snapshot('eu-west-1').errorRate).toBeCloseTo(0.5, 9);
    expect(r.step?.to).toBe('C');
  });

  it('a warm cached mode lookup is far under a millisecond (printed, not asserted)', async () => {
    const store = await freshStore();
    const svc = new ControllerService({ store, regions: REGIONS, controller: { ...cfg, modeCacheMs: 60_000 } });
    await svc.modeFor('owner', 'bench.bin');
    const n = 20_000;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await svc.modeFor('owner', 'bench.bin');
    const perLookupUs = ((performance.now() - t0) / n) * 1000;
    process.stdout.write(`controller mode lookup (warm cache): ${perLookupUs.toFixed(2)} µs per lookup over ${n}\n`);
    // What the rejected alternative would add to every write: one consistent read of a small item.
    const m = 200;
    const t1 = performance.now();
    for (let i = 0; i < m; i++) await store.getState();
    const perReadUs = ((performance.now() - t1) / m) * 1000;
    process.stdout.write(`per-write consistent GetItem instead (dynalite): ${perReadUs.toFixed(0)} µs, ${(perReadUs / perLookupUs).toFixed(0)}× the cached lookup\n`);
    expect((await svc.modeFor('owner', 'bench.bin')).mode).toBe('C');
  });
});

describe('operator changes take effect for every write that starts after their answer', () => {
  const admin = { id: '22222222-2222-4222-8222-222222222222', email: 'admin@example.com', role: 'admin' as const };
  const owner = '55555555-5555-4555-8555-555555555555';

  /** A fake clock shared by the "containers"; a change's wait advances it (and can look around first). */
  function fakeTime() {
    const time = { t: Date.UTC(2026, 1, 1), waited: [] as number[], beforeWait: undefined as (() => Promise<void>) | undefined };
    const now = () => time.t;
    const sleep = async (ms: number) => {
      await time.beforeWait?.();
      time.waited.push(ms);
      time.t += ms;
    };
    return { time, clock: { now }, sleep };
  }

  /** A store whose next snapshot read is taken at once but handed back only on release(). */
  function heldStore(table: string, now: () => number) {
    const store = makeStore(table, now);
    const real = store.snapshot.bind(store);
    const held = { taken: 0, release: () => undefined as void, read: undefined as Promise<void> | undefined };
    let hold = false;
    store.snapshot = async () => {
      const s = await real();
      held.taken++;
      if (hold) {
        hold = false;
        await new Promise<void>((resolve) => (held.release = resolve));
      }
      return s;
    };
    return { store, holdNext: () => (hold = true), held };
  }

  it('a refresh in flight across a critical-key change is not cached as fresh: the next write is strong', async () => {
    const { time, clock: { now }, sleep } = fakeTime();
    const base = await freshStore(now);
    await base.setOverride('A', 'admin');
    const { store, holdNext, held } = heldStore(base.table, now);
    const svc = new ControllerService({ store, regions: REGIONS, controller: cfg, clock: { now }, sleep });

    // A write starts, its refresh reads the state before the change and is held in flight.
    holdNext();
    const before = svc.modeFor(owner, 'ledger.db');
    await vi.waitFor(() => expect(held.taken).toBe(1));

    await svc.addCriticalKey(admin, 'ledger.db');
    // The write that started before the answer may still see the old state...
    held.release();
    expect((await before).mode).toBe('A');
    // ...but no write that starts after the answer does, in this container.
    expect(await svc.modeFor(owner, 'ledger.db')).toMatchObject({ mode: 'C', reason: 'critical key: always strong' });
    expect(time.waited).toEqual([cfg.modeCacheMs + 6]);
  });

  it('another container holding a cached snapshot (or a read in flight) serves the change to every write after its answer', async () => {
    const { time, clock: { now }, sleep } = fakeTime();
    const base = await freshStore(now);
    await base.setOverride('A', 'admin');
    const a = new ControllerService({ store: makeStore(base.table, now), regions: REGIONS, controller: cfg, clock: { now }, sleep });
    const bHeld = heldStore(base.table, now);
    const b = new ControllerService({ store: bHeld.store, regions: REGIONS, controller: cfg, clock: { now }, sleep });
    const c = new ControllerService({ store: makeStore(base.table, now), regions: REGIONS, controller: cfg, clock: { now }, sleep });

    // Container C caches a snapshot now; container B has a refresh in flight that read before the change.
    expect((await c.modeFor(owner, 'ledger.db')).mode).toBe('A');
    time.t += 10;
    bHeld.holdNext();
    const bBefore = b.modeFor(owner, 'ledger.db');
    await vi.waitFor(() => expect(bHeld.held.taken).toBe(1));
    time.t += 10;

    // While A's change is stored but not yet answered, C still serves its cached snapshot: the
    // change's answer waits out that lease, which is what makes C's next write strong.
    let servedDuringWait: string | undefined;
    time.beforeWait = async () => {
      servedDuringWait = (await c.modeFor(owner, 'ledger.db')).mode;
    };
    await a.addCriticalKey(admin, 'ledger.db');
    time.beforeWait = undefined;
    expect(servedDuringWait).toBe('A');

    bHeld.held.release();
    expect((await bBefore).mode).toBe('A');
    for (const container of [a, b, c]) {
      expect(await container.modeFor(owner, 'ledger.db')).toMatchObject({ mode: 'C', reason: 'critical key: always strong' });
    }

    // Clearing the override and removing the key take effect in B and C as well.
    await a.removeCriticalKey(admin, 'ledger.db');
    await a.clearOverride(admin);
    for (const container of [b, c]) expect((await container.modeFor(owner, 'ledger.db')).mode).toBe('C');
    await a.setOverride(admin, 'H', objectKey(owner, 'ledger.db'));
    for (const container of [b, c]) expect((await container.modeFor(owner, 'ledger.db')).mode).toBe('H');
  });

  it('a hint set in one container holds in another for the next write; hints come with the snapshot (one read)', async () => {
    const { clock: { now }, sleep } = fakeTime();
    const base = await freshStore(now);
    await base.setOverride('H', 'admin');
    await base.clearOverride();
    const a = new ControllerService({ store: makeStore(base.table, now), regions: REGIONS, controller: cfg, clock: { now }, sleep });
    const bStore = makeStore(base.table, now);
    let snapshots = 0;
    let hintReads = 0;
    const realSnapshot = bStore.snapshot.bind(bStore);
    bStore.snapshot = async () => (snapshots++, realSnapshot());
    bStore.getHint = async () => (hintReads++, 'none');
    const b = new ControllerService({ store: bStore, regions: REGIONS, controller: cfg, clock: { now }, sleep });

    expect((await b.modeFor(owner, 'new-name.bin')).mode).toBe('C');
    await a.setHint(admin, objectKey(owner, 'new-name.bin'), 'available');
    expect(await b.modeFor(owner, 'new-name.bin')).toMatchObject({ mode: 'H' });
    for (let i = 0; i < 5; i++) await b.modeFor(owner, `other-${i}.bin`);
    expect({ snapshots, hintReads }).toEqual({ snapshots: 2, hintReads: 0 });
  });

  it('a store that cannot be read gives strong, never the last snapshot (it may lack a critical key)', async () => {
    const { time, clock: { now }, sleep } = fakeTime();
    const store = await freshStore(now);
    await store.setOverride('A', 'admin');
    const svc = new ControllerService({ store, regions: REGIONS, controller: cfg, clock: { now }, sleep });
    expect((await svc.modeFor(owner, 'x')).mode).toBe('A');
    time.t += cfg.modeCacheMs;
    let reads = 0;
    store.snapshot = async () => {
      reads++;
      throw new Error('dynamodb unreachable');
    };
    expect(await svc.modeFor(owner, 'x')).toMatchObject({ mode: 'C', reason: 'controller state unavailable: strong by default' });
    // Within the back-off the store is not asked again on every write.
    expect((await svc.modeFor(owner, 'x')).mode).toBe('C');
    expect(reads).toBe(1);
  });
});
