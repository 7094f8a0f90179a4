import { describe, expect, it } from 'vitest';
import { DEFAULT_CONTROLLER } from '#shared/config.js';
import { HealthTracker } from '#shared/controller/health.js';
import { Prober } from '#shared/controller/prober.js';
import { MemoryControllerStore } from '#shared/controller/memory-store.js';
import { ControllerService, type StatusReport } from '#shared/controller/service.js';
import type { AuditEntry } from '#shared/controller/store.js';
import type { TickMetrics } from '#shared/controller/metrics.js';
import { MemoryObjectStore } from '#shared/storage/memory-store.js';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];

function setup(now: () => number, onRecovered?: (regions: string[]) => void) {
  const stores = REGIONS.map((r) => new MemoryObjectStore(r));
  const fake = new MemoryControllerStore({ clock: { now } });
  const ticks: TickMetrics[] = [];
  const health = new HealthTracker(REGIONS, { clock: { now } });
  const prober = new Prober({
    onRecovered,
    stores,
    store: fake,
    health,
    controller: DEFAULT_CONTROLLER,
    metrics: { tick: (m) => ticks.push(m), writeLatency: () => undefined },
    backlog: async () => ({ pending: 7, missing: 0, oldestPendingAgeMs: 30_000 }),
    writeRate: async () => 25,
    clock: { now },
  });
  return { stores, fake, ticks, prober, health };
}

describe('prober', () => {
  it('turns backlog age and write rate into normalised inputs and emits the tick metrics', async () => {
    const { prober, ticks } = setup(() => 1_000_000);
    const r = await prober.tick();
    expect(r.inputs).toEqual({ partition: 0, lag: 0.5, writes: 0.5, hint: 0, penalty: 0 });
    expect(r.step?.score).toBeCloseTo(0.25, 9);
    expect(ticks[0]).toMatchObject({ mode: 'C', backlog: 7, lagMs: 30_000, changed: false });
    expect(ticks[0]?.probes.map((p) => p.reachable)).toEqual([true, true, true]);
  });

  it('writes and reads the probe object under probe/<region>', async () => {
    const { prober, stores } = setup(() => 1_000_000);
    await prober.tick();
    for (const s of stores) expect(s.objects.has(`probe/${s.region}`)).toBe(true);
  });

  it('a scheduled run ticks every interval for the budget (12 ticks of 5 s in a minute)', async () => {
    let t = 0;
    const { prober } = setup(() => t);
    const ticks = await prober.runFor({ budgetMs: 60_000, intervalMs: 5000, remainingMs: () => 70_000 - t, sleep: async (ms) => void (t += ms) });
    expect(ticks).toBe(12);
  });

  it('a scheduled run stops before the invocation runs out of time', async () => {
    let t = 0;
    const { prober } = setup(() => t);
    const ticks = await prober.runFor({ budgetMs: 60_000, intervalMs: 5000, remainingMs: () => 20_000 - t, sleep: async (ms) => void (t += ms) });
    // The probe timeout (2 s) plus a 2 s margin must fit after the next interval.
    expect(ticks).toBe(4);
  });

  it('reports the regions judged reachable again, once, so their backlog is retried at once', async () => {
    let t = 1_000_000;
    const recovered: string[][] = [];
    const { prober, stores } = setup(() => t, (r) => void recovered.push(r));
    await prober.tick();
    stores[1]!.state = 'refuse';
    for (let i = 0; i < 3; i++) {
      t += 5000;
      await prober.tick();
    }
    expect(recovered).toEqual([]);
    stores[1]!.state = 'up';
    for (let i = 0; i < 4; i++) {
      t += 5000;
      await prober.tick();
    }
    expect(recovered).toEqual([['eu-west-1']]);
  });

  it('reports a region as recovered also when the writes judged it reachable again between two ticks', async () => {
    let t = 1_000_000;
    const recovered: string[][] = [];
    const { prober, stores, health } = setup(() => t, (r) => void recovered.push(r));
    stores[1]!.state = 'refuse';
    for (let i = 0; i < 2; i++) {
      t += 5000;
      await prober.tick();
    }
    expect(health.isReachable('eu-west-1')).toBe(false);
    // Healed; the data path's writes succeed twice before the next tick and flip the picture.
    stores[1]!.state = 'up';
    health.observe('eu-west-1', { ok: true, latencyMs: 3 });
    health.observe('eu-west-1', { ok: true, latencyMs: 3 });
    expect(health.isReachable('eu-west-1')).toBe(true);
    t += 5000;
    await prober.tick();
    expect(recovered, 'the recovery hook ran for the region the prober last saw down').toEqual([['eu-west-1']]);
    t += 5000;
    await prober.tick();
    expect(recovered, 'once').toEqual([['eu-west-1']]);
  });

  it('a status read between the stored decision and its audit entry shows the mode with that decision\'s reason', async () => {
    const t = 1_000_000;
    const now = () => t;
    // The audit write of a transition is held until the status has been read: on a loaded
    // machine the dashboard's poll can land between the state write and the audit write.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let auditStarted!: () => void;
    const auditing = new Promise<void>((r) => (auditStarted = r));
    class SlowAudit extends MemoryControllerStore {
      override async appendAudit(e: Omit<AuditEntry, 'id' | 'at'> & { at?: number }): Promise<AuditEntry> {
        if (e.kind === 'transition' && e.to === 'A') {
          auditStarted();
          await held;
        }
        return super.appendAudit(e);
      }
    }
    const fake = new SlowAudit({ clock: { now } });
    // An earlier decision took C after the hysteresis window.
    await fake.appendAudit({ kind: 'transition', actor: 'controller', action: 'transition', reason: '3 consecutive samples chose C (score 0.000)', from: 'H', to: 'C', at: t - 60_000 });
    const stores = REGIONS.map((r) => new MemoryObjectStore(r));
    const health = new HealthTracker(REGIONS, { clock: { now } });
    const service = new ControllerService({ store: fake, regions: REGIONS, health, clock: { now }, sleep: async () => undefined });
    const prober = new Prober({ stores, store: fake, health, service, controller: DEFAULT_CONTROLLER, metrics: { tick: () => undefined, writeLatency: () => undefined }, clock: { now } });

    stores[1]!.state = 'refuse';
    stores[2]!.state = 'refuse';
    const tick = prober.tick();
    await auditing;
    const during: StatusReport = await service.status();
    release();
    await tick;
    const after = await service.status();

    expect(during.mode).toBe('A');
    expect(during.reason).toMatch(/^emergency: 2 of 3 replicas unreachable/);
    expect(after.mode).toBe('A');
    expect(after.reason).toBe(during.reason);
    expect(after.transitions[0]?.reason).toBe(during.reason);
  });
});
