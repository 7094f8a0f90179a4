/**
 * Hot-path statements marked by `prepared` (shared/catalog/db.ts) run as named statements on a
 * PostgreSQL server: prepared once per connection, under a name derived from their text. Proven on
 * the server itself (pg_prepared_statements of the pool's one connection). Needs DATABASE_URL (CI
 * has it); the embedded catalog runs the marked statements as they are (the rest of the suite).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, prepared, preparedName, queryRows, type Catalog } from '#shared/catalog/db.js';
import { DrizzleCatalogRepository } from '#shared/catalog/repository.js';
import { users } from '#shared/catalog/schema.js';
import { HealthTracker } from '#shared/controller/health.js';
import { CHUNK_SIZE } from '#shared/storage/codec.js';
import { StorageEngine } from '#shared/storage/engine.js';
import { MemoryObjectStore } from '#shared/storage/memory-store.js';
import { createMigratedDatabase, type ScratchDatabase } from '../helpers/databases.js';

const SERVER = process.env.DATABASE_URL;

describe.skipIf(!SERVER)('statements prepared on PostgreSQL', () => {
  let scratch: ScratchDatabase;
  let catalog: Catalog;
  beforeAll(async () => {
    scratch = await createMigratedDatabase(SERVER as string);
    // One connection, so the view below sees the statements the queries prepared.
    catalog = await openCatalog({ databaseUrl: scratch.url, poolMax: 1 });
  });
  afterAll(async () => {
    await catalog?.close();
    await scratch?.drop();
  });

  const preparedOnServer = async () =>
    (await queryRows<{ name: string; statement: string }>(catalog.db, sql`select name, statement from pg_prepared_statements`)).map((r) => ({ name: r.name, statement: r.statement }));

  it('runs a marked statement as one named statement, whatever its values, and leaves unmarked ones unnamed', async () => {
    for (const n of [1, 2, 3]) {
      const rows = await queryRows<{ n: number }>(catalog.db, prepared(sql`select ${n}::int as n`));
      expect(rows[0]?.n).toBe(n);
    }
    await queryRows(catalog.db, sql`select ${4}::int as unmarked`);
    const named = (await preparedOnServer()).filter((p) => p.statement.includes('::int as n'));
    expect(named).toHaveLength(1);
    expect(named[0]?.name).toBe(preparedName(named[0]?.statement ?? ''));
    expect((await preparedOnServer()).some((p) => p.statement.includes('unmarked'))).toBe(false);
  });

  it("prepares a chunk write's touch of the catalog, the statement every chunk write runs first", async () => {
    const repo = new DrizzleCatalogRepository(catalog.db);
    expect(await repo.touchChunk(randomUUID(), 'a'.repeat(64), new Date())).toBeUndefined();
    expect(await repo.touchChunk(randomUUID(), 'b'.repeat(64), new Date())).toBeUndefined();
    const touches = (await preparedOnServer()).filter((p) => p.statement.includes('update "chunks" set touched_at'));
    expect(touches).toHaveLength(1);
  });

  it("prepares a small write's one-statement commit (new names and new versions share it) and a download's manifest read", async () => {
    const stores = new Map(['us-east-1', 'eu-west-1', 'ap-southeast-1'].map((r) => [r, new MemoryObjectStore(r)]));
    const engine = new StorageEngine({
      modeSource: { modeFor: async () => ({ mode: 'C', reason: 'test' }) },
      health: new HealthTracker(),
      db: catalog.db,
      stores,
      config: { mode: 'C', maxFileBytes: 4 * CHUNK_SIZE, quotaBytes: 64 * CHUNK_SIZE, uploadTtlSeconds: 3600, replicaTimeoutMs: 2000 },
    });
    const owner = randomUUID();
    await catalog.db.insert(users).values({ id: owner, username: `u${owner.slice(0, 8)}`, email: `${owner}@example.com`, passwordHash: 'x' });
    async function* once(b: Buffer) {
      yield b;
    }
    const first = await engine.uploadStream(owner, { name: 'a.bin' }, once(randomBytes(5000)));
    const other = await engine.uploadStream(owner, { name: 'b.bin' }, once(randomBytes(6000)));
    const again = await engine.uploadStream(owner, { name: 'a.bin' }, once(randomBytes(7000)));
    await engine.drain();
    expect([first.version, again.version]).toEqual([1, 2]);
    const commits = (await preparedOnServer()).filter((p) => p.statement.includes('with lk as (select used_bytes'));
    expect(commits).toHaveLength(1);
    for (const f of [other, again]) {
      const read = await engine.openRead(owner, f.fileId, {});
      let n = 0;
      for await (const piece of read.stream) n += (piece as Buffer).length;
      expect(n).toBe(f.size);
    }
    const manifests = (await preparedOnServer()).filter((p) => p.statement.includes('string_agg(p.region'));
    expect(manifests).toHaveLength(1);
  });
});
