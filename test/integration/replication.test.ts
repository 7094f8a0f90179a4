/**
 * The replicator, anti-entropy and GC against real s3rver replicas, on PGlite and (when
 * DATABASE_URL is set) on a fresh PostgreSQL database, where two drainers really run in parallel
 * on separate connections.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import type { Catalog, Db } from '#shared/catalog/db.js';
import type { ObjectStore } from '#shared/storage/ports.js';
import { backlogStats, drainBacklog, DEFAULT_BACKOFF, RegionBackoff } from '#shared/storage/replicator.js';
import { HealthTracker } from '#shared/controller/health.js';
import { sweep } from '#shared/storage/antientropy.js';
import { collectGarbage } from '#shared/storage/gc.js';
import { createHandler } from '#functions/replicator/handler.js';
import { createRunner, kickReplicator, run, runnerFor } from '#shared/storage/replication-runner.js';
import { loadConfig } from '#shared/config.js';
import { REGIONS, startS3rvers, type S3Fixture } from './files-fixtures.js';
import {
  CountingStore,
  FakeClock,
  FaultyStore,
  createFileVersion,
  createSession,
  createUser,
  openPgliteCatalog,
  openPostgresCatalog,
  placements,
  seedChunk,
  statesOf,
} from './replication-fixtures.js';

let fx: S3Fixture;
beforeAll(async () => {
  // Nothing here depends on a replica timing out; a short timeout only failed copies on a busy machine.
  fx = await startS3rvers(REGIONS, 10_000);
});
afterAll(async () => {
  await fx?.stop();
});

const backends: { name: string; open: () => Promise<Catalog | undefined> }[] = [
  { name: 'PGlite', open: openPgliteCatalog },
  { name: 'PostgreSQL', open: openPostgresCatalog },
];

for (const backend of backends) {
  const hasBackend = backend.name === 'PGlite' || !!process.env.DATABASE_URL;
  describe.skipIf(!hasBackend)(`replication on ${backend.name} with s3rver replicas`, () => {
    let catalog: Catalog;
    let db: Db;
    let owner: string;
    let faulty: Map<string, FaultyStore>;
    let counting: Map<string, CountingStore>;
    let stores: Map<string, ObjectStore>;

    beforeAll(async () => {
      catalog = (await backend.open())!;
      db = catalog.db;
    });
    afterAll(async () => {
      await catalog?.close();
    });
    beforeEach(async () => {
      for (const t of ['chunk_placements', 'chunks', 'version_chunks', 'file_versions', 'files', 'upload_sessions']) await db.execute(sql.raw(`delete from ${t}`));
      faulty = new Map(REGIONS.map((r) => [r, new FaultyStore(fx.stores.get(r)!)]));
      counting = new Map(REGIONS.map((r) => [r, new CountingStore(faulty.get(r)!)]));
      stores = new Map(REGIONS.map((r) => [r, counting.get(r)!]));
      owner = await createUser(db);
    });

    it('the backlog fills a replica that was down once it is back', async () => {
      const [down] = REGIONS.slice(2);
      faulty.get(down!)!.state = 'refuse';
      const seeded = [];
      for (let i = 0; i < 5; i++) seeded.push(await seedChunk(db, stores, { ownerId: owner, present: REGIONS.slice(0, 2), pending: [down!] }));
      const breaker = new RegionBackoff();

      const whileDown = await drainBacklog({ db, stores, workerId: 'w', regionBackoff: breaker });
      expect(whileDown.copied).toBe(0);
      expect((await backlogStats(db)).pending).toBe(5);

      faulty.get(down!)!.state = 'up';
      // Skip the rows' backoff and the region's cool-down (a fresh breaker): the region is back.
      await db.execute(sql`update chunk_placements set next_attempt_at = null`);
      const after = await drainBacklog({ db, stores, workerId: 'w', regionBackoff: new RegionBackoff() });
      expect(after.copied).toBe(5);
      for (const c of seeded) expect((await fx.stores.get(down!)!.get(c.key))?.equals(c.stored)).toBe(true);
      expect(await backlogStats(db)).toMatchObject({ pending: 0, missing: 0, oldestPendingAgeMs: 0 });
    });

    it('two drainers running at once never copy the same row', async () => {
      for (let i = 0; i < 30; i++) await seedChunk(db, stores, { ownerId: owner, present: [REGIONS[0]!], pending: REGIONS.slice(1) });
      const run = (w: string) => drainBacklog({ db, stores, workerId: w, batchSize: 10, concurrency: 4, regionBackoff: new RegionBackoff() });
      // Several rounds so that both workers claim while the other is mid-copy.
      let copied = 0;
      const byWorker = { A: 0, B: 0 };
      for (let round = 0; round < 10; round++) {
        const [a, b] = await Promise.all([run('A'), run('B')]);
        copied += a.copied + b.copied;
        byWorker.A += a.copied;
        byWorker.B += b.copied;
        if (a.claimed + b.claimed === 0) break;
      }
      expect(copied).toBe(60);
      // Both really worked (the race was real), and no key was written twice.
      expect(byWorker.A).toBeGreaterThan(0);
      expect(byWorker.B).toBeGreaterThan(0);
      for (const r of REGIONS.slice(1)) {
        const puts = [...counting.get(r)!.puts.values()];
        expect(puts).toHaveLength(30);
        expect(puts.filter((n) => n !== 1)).toEqual([]);
      }
      expect(await statesOf(db)).toEqual({ present: 90 });
    });

    it('anti-entropy repairs a deleted and a corrupted copy through the replicator', async () => {
      const gone = await seedChunk(db, stores, { ownerId: owner, present: REGIONS });
      const rotten = await seedChunk(db, stores, { ownerId: owner, present: REGIONS });
      await fx.stores.get(REGIONS[1]!)!.delete(gone.key);
      const bad = Buffer.from(rotten.stored);
      bad[bad.length >> 1]! ^= 0x40;
      await fx.stores.get(REGIONS[2]!)!.put(rotten.key, bad);

      const s = await sweep({ db, stores, verifyFraction: 1 });
      expect(s).toMatchObject({ checked: 6, missing: 1, corrupt: 1, markedMissing: 2 });

      const d = await drainBacklog({ db, stores, workerId: 'w', regionBackoff: new RegionBackoff() });
      expect(d.copied).toBe(2);
      expect((await fx.stores.get(REGIONS[1]!)!.get(gone.key))?.equals(gone.stored)).toBe(true);
      expect((await fx.stores.get(REGIONS[2]!)!.get(rotten.key))?.equals(rotten.stored)).toBe(true);
      const again = await sweep({ db, stores, verifyFraction: 1 });
      expect(again).toMatchObject({ checked: 6, ok: 6, markedMissing: 0 });
    });

    it('GC removes an unreferenced chunk after the grace period and keeps referenced and in-flight ones', async () => {
      const old = new Date(Date.now() - 2 * 3600_000);
      const garbage = await seedChunk(db, stores, { ownerId: owner, present: REGIONS, at: old });
      const referenced = await seedChunk(db, stores, { ownerId: owner, present: REGIONS, at: old });
      const inFlight = await seedChunk(db, stores, { ownerId: owner, present: [REGIONS[0]!], at: old });
      const young = await seedChunk(db, stores, { ownerId: owner, present: REGIONS });
      await createFileVersion(db, owner, [referenced.hash]);
      await createSession(db, owner, [inFlight.hash], new Date(Date.now() + 3600_000));

      const s = await collectGarbage({ db, stores, graceSeconds: 3600 });
      expect(s.chunksDeleted).toBe(1);
      for (const r of REGIONS) expect(await fx.stores.get(r)!.exists(garbage.key)).toBe(false);
      expect(await placements(db, owner, garbage.hash)).toEqual({});
      for (const c of [referenced, young]) for (const r of REGIONS) expect(await fx.stores.get(r)!.exists(c.key)).toBe(true);
      expect(await fx.stores.get(REGIONS[0]!)!.exists(inFlight.key)).toBe(true);
    });
  });
}

describe('replicator function', () => {
  let catalog: Catalog;
  beforeAll(async () => {
    catalog = await openPgliteCatalog();
  });
  afterAll(async () => {
    await catalog?.close();
  });

  it('runs drain, sweep and gc tasks from an event, and a kick drains in-process', async () => {
    const config = loadConfig({ ECHOFS_REGIONS: REGIONS.join(','), ECHOFS_GC_GRACE_SECONDS: '3600' });
    const owner = await createUser(catalog.db);
    const runner = createRunner({ config, catalog, stores: fx.stores }, { kickDebounceMs: 10 });
    const handler = createHandler(async () => runner);

    const c = await seedChunk(catalog.db, fx.stores, { ownerId: owner, present: [REGIONS[0]!], pending: REGIONS.slice(1) });
    const drained = await handler({ task: 'drain' });
    expect(drained.task).toBe('drain');
    expect(drained.stats, JSON.stringify(drained.stats)).toMatchObject({ copied: 2, backlog: { pending: 0 } });

    const swept = await handler({ task: 'sweep' });
    expect(swept.stats).toMatchObject({ checked: 3, ok: 3 });
    const collected = await handler({ task: 'gc' });
    expect(collected.stats).toMatchObject({ chunksDeleted: 0 });
    await expect(handler({ task: 'nope' })).rejects.toThrow(/task/);

    const d = await seedChunk(catalog.db, fx.stores, { ownerId: owner, present: [REGIONS[1]!], pending: [REGIONS[0]!] });
    runner.kick();
    runner.kick();
    await runner.idle();
    expect((await placements(catalog.db, owner, d.hash))[REGIONS[0]!]?.state).toBe('present');
    expect((await placements(catalog.db, owner, c.hash))[REGIONS[2]!]?.state).toBe('present');
  });

  it('a container holding a region off reads the shared health picture before a drain: a recovery another container saw ends the cool-down at once', async () => {
    const config = loadConfig({ ECHOFS_REGIONS: REGIONS.join(','), ECHOFS_GC_GRACE_SECONDS: '3600' });
    const owner = await createUser(catalog.db);
    const region = REGIONS[1]!;
    const stores = new Map(REGIONS.map((r) => [r, new FaultyStore(fx.stores.get(r)!)]));
    const clock = new FakeClock(Date.now());
    const health = new HealthTracker(REGIONS, { clock });
    // The shared picture: what the prober of another container stored. Here, refreshing it brings
    // a successful probe of the region made after this container's cool-down began.
    let refreshes = 0;
    let probedBack = false;
    const controller = {
      async refreshHealth() {
        refreshes += 1;
        if (probedBack) health.observe(region, { ok: true, latencyMs: 5 });
      },
    };
    const runner = createRunner({ config, catalog, stores, health, controller }, { clock });
    const hashes: string[] = [];
    for (let i = 0; i < 4; i++) hashes.push((await seedChunk(catalog.db, stores, { ownerId: owner, present: [REGIONS[0]!], pending: [region], at: new Date(clock.now()) })).hash);
    stores.get(region)!.state = 'refuse';
    const down = await runner.drain();
    expect(down.failed, JSON.stringify(down)).toBeGreaterThanOrEqual(DEFAULT_BACKOFF.regionFailureThreshold);
    expect(refreshes, 'no region was held off when the drain began: no read of the shared picture').toBe(0);

    stores.get(region)!.state = 'up';
    probedBack = true;
    clock.advance(1000);
    const back = await runner.drain();
    expect(refreshes).toBe(1);
    expect(back, JSON.stringify(back)).toMatchObject({ copied: 4, backlog: { pending: 0 } });
    for (const h of hashes) expect((await placements(catalog.db, owner, h))[region]?.state).toBe('present');
  });

  it('run() (the local schedule) registers the in-process runner, so kickReplicator drains a new backlog', async () => {
    const config = loadConfig({ ECHOFS_REGIONS: REGIONS.join(','), ECHOFS_GC_GRACE_SECONDS: '3600' });
    const owner = await createUser(catalog.db);
    const services: Parameters<typeof run>[0] = { config, catalog, storage: { stores: fx.stores } };
    const first = (await run(services)) as { drain: { batches: number } };
    expect(first.drain.batches).toBeGreaterThan(0);
    expect(services.replication).toBe(runnerFor(services));

    const c = await seedChunk(catalog.db, fx.stores, { ownerId: owner, present: [REGIONS[2]!], pending: REGIONS.slice(0, 2) });
    kickReplicator(services);
    await runnerFor(services).idle();
    const rows = await placements(catalog.db, owner, c.hash);
    expect(Object.values(rows).map((r) => r.state)).toEqual(['present', 'present', 'present']);
  });
});
