import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import type { Catalog, Db } from '#shared/catalog/db.js';
import { backlogStats, claimBacklog, drainBacklog, expediteRegions, RegionBackoff, rowBackoffMs, DEFAULT_BACKOFF } from '#shared/storage/replicator.js';
import { createFileVersion, createUser, FakeClock, FaultyStore, openPgliteCatalog, placements, seedChunk, statesOf } from '../integration/replication-fixtures.js';
import type { ObjectStore } from '#shared/storage/ports.js';
import { backlogReport } from '#shared/storage/backlog-report.js';
import { MemoryObjectStore } from '#shared/storage/memory-store.js';
import { collectGarbage } from '#shared/storage/gc.js';
import { sweep } from '#shared/storage/antientropy.js';
import { waitFor } from '../helpers/wait.js';
import { HealthTracker } from '#shared/controller/health.js';

const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];
let catalog: Catalog;
let db: Db;
let stores: Map<string, MemoryObjectStore>;
let clock: FakeClock;
let owner: string;

beforeAll(async () => {
  catalog = await openPgliteCatalog();
  db = catalog.db;
});
afterAll(async () => {
  await catalog?.close();
});
beforeEach(async () => {
  await db.execute(sql`delete from chunk_placements`);
  await db.execute(sql`delete from chunks`);
  stores = new Map(REGIONS.map((r) => [r, new MemoryObjectStore(r)]));
  clock = new FakeClock();
  owner = await createUser(db);
});

const at = () => new Date(clock.now());

/** `n` drain passes a minute apart (no jitter), for rows to fail and back off while replicas refuse. */
async function failedPasses(n: number, breaker: RegionBackoff): Promise<void> {
  for (let i = 0; i < n; i++) {
    if (i > 0) clock.advance(60_000);
    await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker, random: () => 0 });
  }
}

describe('drainBacklog', () => {
  it('the rows of a recovered region become due at once instead of after their backoff', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1'], at: at() });
    stores.get('eu-west-1')!.state = 'refuse';
    const breaker = new RegionBackoff({ ...DEFAULT_BACKOFF, regionFailureThreshold: 100 });
    for (let i = 0; i < 5; i++) {
      if (i > 0) clock.advance(60_000);
      await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker, random: () => 0 });
    }
    stores.get('eu-west-1')!.state = 'up';
    // Backing off: nothing claimable now.
    expect((await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker })).claimed).toBe(0);

    expect(await expediteRegions(db, ['eu-west-1'], at())).toBe(1);
    const stats = await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker });
    expect(stats).toMatchObject({ claimed: 1, copied: 1 });
    expect((await placements(db, owner, c.hash))['eu-west-1']!.state).toBe('present');
  });

  it('a recovered region also makes due the rows of other regions that back off because it held their only copy', async () => {
    const breaker = new RegionBackoff({ ...DEFAULT_BACKOFF, regionFailureThreshold: 100 });
    const sourced = await seedChunk(db, stores, { ownerId: owner, present: ['ap-southeast-1'], pending: ['eu-west-1'], at: at() });
    const unrelated = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1'], at: at() });
    stores.get('ap-southeast-1')!.state = 'refuse';
    stores.get('eu-west-1')!.state = 'refuse';
    await failedPasses(6, breaker);
    const row = (await placements(db, owner, sourced.hash))['eu-west-1']!;
    expect(row).toMatchObject({ state: 'pending', attempts: 6 });
    expect(row.lastError).toMatch(/^no usable source/);
    stores.get('ap-southeast-1')!.state = 'up';
    stores.get('eu-west-1')!.state = 'up';

    // ap-southeast-1 is judged reachable again: the row waiting on it as its source is due now (one
    // row: the other eu-west-1 row has nothing to do with ap-southeast-1 and keeps its schedule).
    expect(await expediteRegions(db, ['ap-southeast-1'], at())).toBe(1);
    const stats = await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker });
    expect(stats).toMatchObject({ claimed: 1, copied: 1 });
    expect((await placements(db, owner, sourced.hash))['eu-west-1']!.state).toBe('present');
    expect((await placements(db, owner, unrelated.hash))['eu-west-1']!.state).toBe('pending');
  });

  it('a region that takes a copy again makes its rows that backed off after its failed writes due at once; rows waiting on a source keep their backoff', async () => {
    // A lossy region the health picture never judged unreachable: no recovery hook runs for it.
    const breaker = new RegionBackoff({ ...DEFAULT_BACKOFF, regionFailureThreshold: 100 });
    const waiting = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1'], at: at() });
    const noSource = await seedChunk(db, stores, { ownerId: owner, present: ['ap-southeast-1'], pending: ['eu-west-1'], at: at() });
    stores.get('eu-west-1')!.state = 'refuse';
    stores.get('ap-southeast-1')!.state = 'refuse';
    await failedPasses(6, breaker);
    const before = await placements(db, owner, waiting.hash);
    expect(before['eu-west-1']).toMatchObject({ state: 'pending', attempts: 6 });
    // Six failures: 16 s of backoff left, which grows with every failure of a longer outage.
    expect(before['eu-west-1']!.nextAttemptAt!.getTime()).toBe(clock.now() + 16_000);
    const sourceRow = (await placements(db, owner, noSource.hash))['eu-west-1']!;
    expect(sourceRow.lastError).toMatch(/^no usable source/);

    // The region is back; a fresh row for it is due now and its copy succeeds.
    stores.get('eu-west-1')!.state = 'up';
    const fresh = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1'], at: at() });
    const first = await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker });
    expect(first).toMatchObject({ claimed: 1, copied: 1, expedited: 1 });
    expect((await placements(db, owner, fresh.hash))['eu-west-1']!.state).toBe('present');
    // The row that backed off is copied by the next batch, at the same instant: no backoff waited out.
    const second = await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker });
    expect(second).toMatchObject({ claimed: 1, copied: 1 });
    expect((await placements(db, owner, waiting.hash))['eu-west-1']).toMatchObject({ state: 'present', attempts: 0, lastError: null });
    // The row whose only holder still refuses keeps its schedule.
    expect((await placements(db, owner, noSource.hash))['eu-west-1']).toMatchObject({ state: 'pending', attempts: 6, nextAttemptAt: sourceRow.nextAttemptAt });
  });

  it('past its deadline a drain starts no copy: claimed rows go back untouched, due at once, nothing half-done', async () => {
    const at = () => new Date(clock.now());
    const a = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1', 'ap-southeast-1'], at: at() });
    const late = await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: new RegionBackoff(), deadline: clock.now() });
    expect(late).toMatchObject({ claimed: 2, copied: 0, failed: 0, deferred: 2 });
    for (const r of ['eu-west-1', 'ap-southeast-1']) {
      const row = (await placements(db, owner, a.hash))[r]!;
      expect(row).toMatchObject({ state: 'pending', attempts: 0, claimedBy: null, claimedUntil: null, lastError: null });
      expect(await stores.get(r)!.exists(a.key)).toBe(false);
    }
    const inTime = await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: new RegionBackoff(), deadline: clock.now() + 60_000 });
    expect(inTime).toMatchObject({ claimed: 2, copied: 2, deferred: 0 });
  });

  it('past their deadline GC starts no chunk and the sweep starts no page (the next run continues)', async () => {
    const old = new Date(clock.now() - 2 * 3600_000);
    const g = await seedChunk(db, stores, { ownerId: owner, present: REGIONS, at: old });
    const gcLate = await collectGarbage({ db, stores, clock, graceSeconds: 3600, deadline: clock.now() });
    expect(gcLate.chunksDeleted).toBe(0);
    for (const r of REGIONS) expect(await stores.get(r)!.exists(g.key)).toBe(true);
    const sweepLate = await sweep({ db, stores, clock, deadline: clock.now() });
    expect(sweepLate.checked).toBe(0);
    const gcInTime = await collectGarbage({ db, stores, clock, graceSeconds: 3600, deadline: clock.now() + 60_000 });
    expect(gcInTime.chunksDeleted).toBe(1);
  });

  it('copies pending chunks from a holder, marks them present and empties the backlog', async () => {
    const a = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1', 'ap-southeast-1'], at: at() });
    const b = await seedChunk(db, stores, { ownerId: owner, present: ['eu-west-1'], pending: ['us-east-1', 'ap-southeast-1'], at: at() });
    clock.advance(4000);
    expect(await backlogStats(db, clock)).toEqual({ pending: 4, missing: 0, unrecoverable: 0, oldestPendingAgeMs: 4000 });

    const stats = await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: new RegionBackoff() });

    expect(stats).toMatchObject({ claimed: 4, copied: 4, failed: 0 });
    for (const c of [a, b]) {
      for (const r of REGIONS) expect(stores.get(r)!.objects.get(c.key)?.equals(c.stored), `${r} holds ${c.hash}`).toBe(true);
      const rows = await placements(db, owner, c.hash);
      for (const row of Object.values(rows)) expect(row).toMatchObject({ state: 'present', claimedBy: null, claimedUntil: null, pendingSince: null });
    }
    expect(await backlogStats(db, clock)).toEqual({ pending: 0, missing: 0, unrecoverable: 0, oldestPendingAgeMs: 0 });
  });

  it('on a failed write increments attempts, records the error and waits out an exponential backoff', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1'], at: at() });
    stores.get('eu-west-1')!.state = 'refuse';
    const breaker = new RegionBackoff({ ...DEFAULT_BACKOFF, regionFailureThreshold: 100 });

    const first = await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker, random: () => 0 });
    expect(first).toMatchObject({ claimed: 1, copied: 0, failed: 1 });
    const row = (await placements(db, owner, c.hash))['eu-west-1']!;
    expect(row.state).toBe('pending');
    expect(row.attempts).toBe(1);
    expect(row.lastError).toContain('ECONNREFUSED');
    expect(row.claimedBy).toBeNull();
    expect(row.nextAttemptAt!.getTime()).toBe(clock.now() + DEFAULT_BACKOFF.baseMs / 2);

    // Before the backoff ends, nothing is claimed.
    expect((await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker })).claimed).toBe(0);

    // Second failure doubles the delay.
    clock.advance(DEFAULT_BACKOFF.baseMs);
    await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker, random: () => 0 });
    const row2 = (await placements(db, owner, c.hash))['eu-west-1']!;
    expect(row2.attempts).toBe(2);
    expect(row2.nextAttemptAt!.getTime()).toBe(clock.now() + DEFAULT_BACKOFF.baseMs);

    // The region comes back: the next attempt after the backoff succeeds.
    stores.get('eu-west-1')!.state = 'up';
    clock.advance(DEFAULT_BACKOFF.baseMs);
    const last = await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker });
    expect(last.copied).toBe(1);
    expect((await placements(db, owner, c.hash))['eu-west-1']).toMatchObject({ state: 'present', attempts: 0, lastError: null });
  });

  it('backoff delays grow exponentially with jitter and stay within the cap', () => {
    expect(rowBackoffMs(1, DEFAULT_BACKOFF, () => 0)).toBe(500);
    expect(rowBackoffMs(1, DEFAULT_BACKOFF, () => 1)).toBe(1000);
    expect(rowBackoffMs(4, DEFAULT_BACKOFF, () => 1)).toBe(8000);
    expect(rowBackoffMs(40, DEFAULT_BACKOFF, () => 1)).toBe(DEFAULT_BACKOFF.maxMs);
  });

  it('leaves an unreachable region alone as a whole after consecutive failures', async () => {
    for (let i = 0; i < 6; i++) await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1'], at: at() });
    const down = stores.get('eu-west-1')!;
    down.state = 'refuse';
    const breaker = new RegionBackoff();

    const first = await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker, concurrency: 1 });
    // Three failures open the region; the other claimed rows are handed back without a call.
    expect(first.failed).toBe(DEFAULT_BACKOFF.regionFailureThreshold);
    expect(first.deferred).toBe(6 - DEFAULT_BACKOFF.regionFailureThreshold);
    expect(down.calls).toBe(DEFAULT_BACKOFF.regionFailureThreshold);

    // Even rows whose own backoff has ended are not claimed while the region cools down.
    clock.advance(DEFAULT_BACKOFF.regionCooldownMs - 1);
    const during = await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker });
    expect(during.claimed).toBe(0);
    expect(during.skippedRegions).toEqual(['eu-west-1']);
    expect(down.calls).toBe(DEFAULT_BACKOFF.regionFailureThreshold);

    down.state = 'up';
    clock.advance(DEFAULT_BACKOFF.regionCooldownMs);
    const after = await drainBacklog({ db, stores, workerId: 'w1', clock, regionBackoff: breaker });
    expect(after.copied).toBe(6);
    expect(await statesOf(db)).toEqual({ present: 12 });
  });

  it('a region held off that the health picture has seen answer since (a probe, a write, another container) is retried at once, its deferred rows due', async () => {
    for (let i = 0; i < 6; i++) await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1'], at: at() });
    const down = stores.get('eu-west-1')!;
    down.state = 'refuse';
    const breaker = new RegionBackoff();
    const health = new HealthTracker(REGIONS, { clock });
    // It answered once before it went down.
    health.observe('eu-west-1', { ok: true, latencyMs: 4 });
    const first = await drainBacklog({ db, stores, health, workerId: 'w1', clock, regionBackoff: breaker, concurrency: 1 });
    expect(first.failed).toBe(DEFAULT_BACKOFF.regionFailureThreshold);
    expect(breaker.isOpen('eu-west-1', clock.now())).toBe(true);

    // Healed, but nobody has seen it answer since: the success from before the cool-down does not
    // end it, and nothing is claimed.
    down.state = 'up';
    clock.advance(1000);
    const held = await drainBacklog({ db, stores, health, workerId: 'w1', clock, regionBackoff: breaker });
    expect(held).toMatchObject({ claimed: 0, skippedRegions: ['eu-west-1'] });

    // The prober (or a write) sees it answer: the next drain ends the cool-down and copies every
    // row at once, also those deferred to the cool-down's end, well before it would have ended.
    health.observe('eu-west-1', { ok: true, latencyMs: 4 });
    clock.advance(1000);
    expect(clock.now()).toBeLessThan(breaker.openUntil('eu-west-1'));
    const after = await drainBacklog({ db, stores, health, workerId: 'w1', clock, regionBackoff: breaker });
    expect(after).toMatchObject({ copied: 6, skippedRegions: [] });
    expect(breaker.isOpen('eu-west-1', clock.now())).toBe(false);
    expect(await statesOf(db)).toEqual({ present: 12 });
  });

  it('two drainers running at once never copy the same row', async () => {
    for (let i = 0; i < 40; i++) await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1', 'ap-southeast-1'], at: at() });
    for (const s of stores.values()) s.latencyMs = 2;
    const run = (w: string) => drainBacklog({ db, stores, workerId: w, clock, batchSize: 30, concurrency: 4, regionBackoff: new RegionBackoff() });
    const results = await Promise.all([run('w1'), run('w2'), run('w1b'), run('w2b')]);
    const copied = results.reduce((n, r) => n + r.copied, 0);
    expect(copied).toBe(80);
    for (const r of ['eu-west-1', 'ap-southeast-1']) {
      const puts = [...stores.get(r)!.putsByKey.values()];
      expect(puts.length).toBe(40);
      expect(puts.every((n) => n === 1)).toBe(true);
    }
    expect(await statesOf(db)).toEqual({ present: 120 });
  });

  it('a claim held by a crashed worker blocks others until its lease expires, then the copy is redone safely', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1'], at: at() });
    // Worker A claims and "crashes" after writing the object but before marking the row.
    const claimed = await claimBacklog(db, { workerId: 'A', limit: 10, now: at(), leaseUntil: new Date(clock.now() + 30_000), regions: REGIONS });
    expect(claimed).toHaveLength(1);
    await stores.get('eu-west-1')!.put(c.key, c.stored);

    expect((await drainBacklog({ db, stores, workerId: 'B', clock, leaseMs: 30_000, regionBackoff: new RegionBackoff() })).claimed).toBe(0);
    clock.advance(30_001);
    const b = await drainBacklog({ db, stores, workerId: 'B', clock, leaseMs: 30_000, regionBackoff: new RegionBackoff() });
    expect(b.copied).toBe(1);
    expect(stores.get('eu-west-1')!.objects.get(c.key)?.equals(c.stored)).toBe(true);
    expect((await placements(db, owner, c.hash))['eu-west-1']).toMatchObject({ state: 'present', claimedBy: null });
  });

  it('renews its lease while a slow copy runs, so another worker cannot take the row over', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1'], at: at() });
    // A's copy into eu-west-1 is held until B has tried, so it is still running when B looks.
    const target = stores.get('eu-west-1')!;
    const put = target.put.bind(target);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    target.put = async (...args) => {
      await held;
      return put(...args);
    };
    const leaseMs = 3000;
    const a = drainBacklog({ db, stores, workerId: 'A', clock, leaseMs, regionBackoff: new RegionBackoff() });
    const row = async () => (await placements(db, owner, c.hash))['eu-west-1'];
    await waitFor(async () => (await row())?.claimedBy === 'A', "A's claim on the row");
    // Time passes beyond A's original lease; A's heartbeat (every leaseMs/3, at least 1 s) renews it.
    clock.advance(leaseMs + 1);
    await waitFor(async () => ((await row())?.claimedUntil?.getTime() ?? 0) > clock.now(), "A's heartbeat to renew its lease past the advanced clock");
    const b = await drainBacklog({ db, stores, workerId: 'B', clock, leaseMs, regionBackoff: new RegionBackoff() });
    expect(b.claimed).toBe(0);
    expect((await row())?.state).toBe('pending');
    release();
    expect((await a).copied).toBe(1);
    expect([...target.putsByKey.values()]).toEqual([1]);
  });

  it('skips a corrupt source, queues it for repair and copies from a good holder', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1', 'ap-southeast-1'], pending: ['eu-west-1'], at: at() });
    const bad = Buffer.from(c.stored);
    bad[bad.length - 1]! ^= 0xff;
    stores.get('us-east-1')!.objects.set(c.key, bad);
    // Force us-east-1 to be tried first.
    const health = { observe() {}, ranked: (rs: readonly string[]) => [...rs].sort((x) => (x === 'us-east-1' ? -1 : 1)) };

    const stats = await drainBacklog({ db, stores, health, workerId: 'w', clock, regionBackoff: new RegionBackoff() });
    expect(stats).toMatchObject({ copied: 1, badSources: 1 });
    expect(stores.get('eu-west-1')!.objects.get(c.key)?.equals(c.stored)).toBe(true);
    const rows = await placements(db, owner, c.hash);
    expect(rows['us-east-1']?.state).toBe('missing');
    expect(rows['eu-west-1']?.state).toBe('present');

    // The next run repairs the corrupt copy itself.
    const again = await drainBacklog({ db, stores, health, workerId: 'w', clock, regionBackoff: new RegionBackoff() });
    expect(again.copied).toBe(1);
    expect(stores.get('us-east-1')!.objects.get(c.key)?.equals(c.stored)).toBe(true);
  });

  it('fails a row with a clear error when no region holds a verified copy', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1'], at: at() });
    stores.get('us-east-1')!.objects.delete(c.key);
    const stats = await drainBacklog({ db, stores, workerId: 'w', clock, regionBackoff: new RegionBackoff() });
    expect(stats).toMatchObject({ copied: 0, failed: 1, badSources: 1 });
    const rows = await placements(db, owner, c.hash);
    expect(rows['eu-west-1']?.lastError).toContain('object not found');
    expect(rows['us-east-1']?.state).toBe('missing');
  });

  it('drops placement rows whose chunk no longer exists in the catalog', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1'], pending: ['eu-west-1'], at: at() });
    await db.execute(sql`delete from chunks where hash = ${c.hash}`);
    const stats = await drainBacklog({ db, stores, workerId: 'w', clock, regionBackoff: new RegionBackoff() });
    expect(stats.orphans).toBe(1);
    expect((await placements(db, owner, c.hash))['eu-west-1']).toBeUndefined();
  });

  it('copies to a region the health picture doubts (its retries are how it recovers) and prefers healthy sources', async () => {
    const c = await seedChunk(db, stores, { ownerId: owner, present: ['us-east-1', 'ap-southeast-1'], pending: ['eu-west-1'], at: at() });
    const observed: string[] = [];
    const health = {
      observe: (r: string, o: { ok: boolean }) => void observed.push(`${r}:${o.ok ? 'ok' : 'fail'}`),
      ranked: (rs: readonly string[]) => rs.filter((r) => r === 'ap-southeast-1'),
    };
    const stats = await drainBacklog({ db, stores, health, workerId: 'w', clock, regionBackoff: new RegionBackoff() });
    expect(stats.copied).toBe(1);
    expect(stores.get('us-east-1')!.calls).toBe(1); // only the seed's own PUT: the doubted holder was not read
    expect(observed).toEqual(['ap-southeast-1:ok', 'eu-west-1:ok']);
    expect((await placements(db, owner, c.hash))['eu-west-1']?.state).toBe('present');
  });
});

/** The in-memory replicas behind FaultyStore wrappers (a region can refuse every call). */
function faultyStores() {
  const mem = new Map(REGIONS.map((r) => [r, new MemoryObjectStore(r)]));
  const faulty = new Map(REGIONS.map((r) => [r, new FaultyStore(mem.get(r)!)]));
  return { mem, faulty, stores: new Map<string, ObjectStore>(faulty) };
}

describe('rows no region holds a source for', () => {
  it('rows no region holds a source for are resolved: a copy that landed is adopted, an unacknowledged write is dropped for GC, a lost referenced chunk is parked and reported', async () => {
    const { mem, stores } = faultyStores();
    const old = new Date(Date.now() - 2 * 3600_000);
    // 1. A refused write whose straggler landed in one region: every row pending, no holder.
    const landed = await seedChunk(db, stores, { ownerId: owner, present: [], pending: REGIONS, at: old });
    await mem.get(REGIONS[1]!)!.put(landed.key, landed.stored);
    // 2. A refused write that landed nowhere.
    const nowhere = await seedChunk(db, stores, { ownerId: owner, present: [], pending: REGIONS, at: old });
    // 3. An acknowledged chunk (a version references it) whose every copy is gone.
    const lost = await seedChunk(db, stores, { ownerId: owner, present: [], pending: REGIONS, at: old });
    await createFileVersion(db, owner, [lost.hash]);
    // 4. An ordinary backlog row with a holder: the lag counts only this one and the adopted chunk's.
    const ordinary = await seedChunk(db, stores, { ownerId: owner, present: REGIONS.slice(0, 2), pending: [REGIONS[2]!], at: old });

    const before = await backlogStats(db);
    expect(before).toMatchObject({ pending: 10, missing: 0, unrecoverable: 9 });
    // The lag input sees only the copy that can still be made (the ordinary row, 2 h old).
    expect(before.oldestPendingAgeMs).toBeGreaterThan(3600_000);
    await db.execute(sql`update chunk_placements set pending_since = now() where hash = ${ordinary.hash}`);
    expect((await backlogStats(db)).oldestPendingAgeMs).toBeLessThan(60_000);

    let total = { adopted: 0, dropped: 0, unrecoverable: 0, copied: 0 };
    for (let i = 0; i < 5; i++) {
      const s = await drainBacklog({ db, stores, workerId: 'w', regionBackoff: new RegionBackoff() });
      total = { adopted: total.adopted + s.adopted, dropped: total.dropped + s.dropped, unrecoverable: total.unrecoverable + s.unrecoverable, copied: total.copied + s.copied };
      if (s.claimed === 0) break;
    }
    expect(total.adopted).toBe(1);
    expect(total.unrecoverable).toBe(3);
    // The nowhere chunk's 3 rows, and the landed chunk's other rows handled before the adoption
    // (an unacknowledged write's rows may go; those handled after it are copied from the adopted copy), and the ordinary row is copied.
    expect(total.dropped).toBeGreaterThanOrEqual(3);
    expect(total.dropped + total.copied).toBe(6);

    // The landed copy became present after verification; no row of that chunk stays in the backlog.
    const landedRows = await placements(db, owner, landed.hash);
    expect(landedRows[REGIONS[1]!]?.state).toBe('present');
    expect(Object.values(landedRows).filter((r) => r.state !== 'present')).toEqual([]);
    // The unacknowledged write leaves no rows; its chunk row stays, so GC removes the bytes.
    expect(await placements(db, owner, nowhere.hash)).toEqual({});
    // The lost chunk's rows stay, parked (not claimed again by the next drain) and reported.
    const lostRows = Object.values(await placements(db, owner, lost.hash));
    expect(lostRows.map((r) => r.state)).toEqual(['pending', 'pending', 'pending']);
    for (const r of lostRows) {
      expect(r.lastError).toMatch(/^no_source:/);
      expect(r.nextAttemptAt!.getTime()).toBeGreaterThan(Date.now() + 3600_000);
    }
    const next = await drainBacklog({ db, stores, workerId: 'w', regionBackoff: new RegionBackoff() });
    expect(next.claimed).toBe(0);
    const after = await backlogStats(db);
    expect(after).toMatchObject({ pending: 3, unrecoverable: 3, oldestPendingAgeMs: 0 });

    const gc = await collectGarbage({ db, stores, graceSeconds: 3600 });
    expect(gc.chunksDeleted).toBeGreaterThanOrEqual(1);
    for (const r of REGIONS) expect(await mem.get(r)!.exists(nowhere.key)).toBe(false);
  });

  it('the status report lists the oldest pending copies with age, attempts, next attempt and a sanitised last error', async () => {
    const { faulty, stores } = faultyStores();
    faulty.get(REGIONS[2]!)!.state = 'refuse';
    const t0 = Date.now();
    const old = new Date(t0 - 600_000);
    const stuck = await seedChunk(db, stores, { ownerId: owner, present: REGIONS.slice(0, 2), pending: [REGIONS[2]!], at: old });
    await seedChunk(db, stores, { ownerId: owner, present: REGIONS.slice(0, 2), pending: [REGIONS[2]!] });
    const lost = await seedChunk(db, stores, { ownerId: owner, present: [], pending: [REGIONS[0]!], at: new Date(t0 - 1200_000) });
    await createFileVersion(db, owner, [lost.hash]);
    await drainBacklog({ db, stores, workerId: 'w', regionBackoff: new RegionBackoff() });
    // The stored error names the refused call (the SDK's text may carry host names and addresses).
    expect((await placements(db, owner, stuck.hash))[REGIONS[2]!]!.lastError).toMatch(/ECONNREFUSED/);
    await db.execute(sql`update chunk_placements set last_error = 'write to x: connect ECONNREFUSED 10.1.2.3:4569 (s3.internal.example)' where hash = ${stuck.hash} and state = 'pending'`);

    const r = await backlogReport(db, { limit: 2 });
    expect(r).toMatchObject({ pending: 3, missing: 0, unrecoverable: 1 });
    expect(r.oldestPendingAgeMs).toBeGreaterThanOrEqual(600_000);
    expect(r.pendingCopies.recoverable).toBe(2);
    expect(r.pendingCopies.unrecoverable).toBe(1);
    expect(r.pendingCopies.oldest).toHaveLength(2);
    const [first, second] = r.pendingCopies.oldest;
    expect(first).toMatchObject({ region: REGIONS[0], state: 'pending', attempts: 1, recoverable: false, last_error: { code: 'no_source' } });
    expect(first!.age_ms).toBeGreaterThanOrEqual(1200_000);
    expect(first!.next_attempt_in_ms).toBeGreaterThan(3600_000);
    expect(second).toMatchObject({ region: REGIONS[2], state: 'pending', attempts: 1, recoverable: true, last_error: { code: 'unreachable' } });
    expect(second!.age_ms).toBeGreaterThanOrEqual(600_000);
    expect(second!.next_attempt_in_ms).toBeGreaterThan(0);
    expect(JSON.stringify(r.pendingCopies)).not.toMatch(/10\.1\.2\.3|internal|ECONNREFUSED|4569/);
    expect(JSON.stringify(r.pendingCopies)).not.toContain(stuck.hash);
    expect(JSON.stringify(r.pendingCopies)).not.toContain(owner);
  });

  it('a holder-less row in an unreachable region: an unacknowledged write is dropped at once, a referenced chunk backs off', async () => {
    const { faulty, stores } = faultyStores();
    faulty.get(REGIONS[2]!)!.state = 'refuse';
    const refused = await seedChunk(db, stores, { ownerId: owner, present: [], pending: [REGIONS[2]!] });
    const lost = await seedChunk(db, stores, { ownerId: owner, present: [], pending: [REGIONS[2]!] });
    await createFileVersion(db, owner, [lost.hash]);
    const s = await drainBacklog({ db, stores, workerId: 'w', regionBackoff: new RegionBackoff() });
    expect(s).toMatchObject({ claimed: 2, dropped: 1, failed: 1, unrecoverable: 0 });
    expect(await placements(db, owner, refused.hash)).toEqual({});
    const row = (await placements(db, owner, lost.hash))[REGIONS[2]!]!;
    expect(row).toMatchObject({ state: 'pending', attempts: 1 });
    expect(row.lastError).toMatch(/^unreachable:/);
  });
});
