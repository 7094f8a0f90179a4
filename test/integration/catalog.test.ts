import { and, eq, sql } from 'drizzle-orm';
import { getTableConfig, type PgTable } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows, uniqueViolation, withoutParams, type Catalog, type Db } from '#shared/catalog/db.js';
import { MIGRATIONS, migrate } from '#shared/catalog/migrations.js';
import { chunkPlacements, fileVersions, files, schema, users } from '#shared/catalog/schema.js';
import { catalogTargets, openTestCatalog, type TestCatalog } from './catalog-fixtures.js';

/** The error a statement fails with (the test fails if it succeeds). */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the statement to fail');
}

/** SQLSTATE of a failed statement, looking through the ORM's wrapper. */
function sqlState(err: unknown): string | undefined {
  let e = err as { code?: unknown; cause?: unknown } | undefined;
  for (let i = 0; e && i < 5; i++) {
    if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
    e = e.cause as typeof e;
  }
  return undefined;
}

let n = 0;
async function addUser(db: Db, over: Partial<typeof users.$inferInsert> = {}) {
  n++;
  const [row] = await db
    .insert(users)
    .values({ username: `user${n}`, email: `user${n}@example.com`, passwordHash: 'hash', ...over })
    .returning();
  if (!row) throw new Error('no row');
  return row;
}

describe.each(catalogTargets)('catalog on %s', (target) => {
  let t: TestCatalog;
  let catalog: Catalog;
  let db: Db;

  beforeAll(async () => {
    t = await openTestCatalog(target, { migrate: false });
    catalog = t.catalog;
    db = catalog.db;
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('applies every migration exactly once when two migrators start together', async () => {
    // Postgres: two separate connection pools race; PGlite: two calls on the one embedded engine.
    const other = target === 'postgres' ? await t.reopen({ migrate: false }) : catalog;
    const [a, b] = await Promise.all([migrate(db), migrate(other.db)]);
    expect([...a.applied, ...b.applied].sort()).toEqual(MIGRATIONS.map((m) => m.id).sort());
    expect(a.applied.length === 0 || b.applied.length === 0).toBe(true);
  });

  it('is idempotent: migrating again applies nothing and changes nothing', async () => {
    const before = await queryRows<{ id: string }>(db, sql`SELECT id FROM schema_migrations ORDER BY id`);
    expect((await migrate(db)).applied).toEqual([]);
    expect((await migrate(db)).applied).toEqual([]);
    const after = await queryRows<{ id: string }>(db, sql`SELECT id FROM schema_migrations ORDER BY id`);
    expect(after).toEqual(before);
    expect(after.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id));
  });

  it('creates every table, column and index the schema declares', async () => {
    for (const table of Object.values(schema) as PgTable[]) {
      const cfg = getTableConfig(table);
      const cols = await queryRows<{ column_name: string; data_type: string; is_nullable: string }>(
        db,
        sql`SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ${cfg.name}`,
      );
      const actual = Object.fromEntries(cols.map((c) => [c.column_name, `${c.data_type} ${c.is_nullable === 'NO' ? 'not null' : 'null'}`]));
      const expected = Object.fromEntries(cfg.columns.map((c) => [c.name, `${c.getSQLType()} ${c.notNull ? 'not null' : 'null'}`]));
      expect({ table: cfg.name, columns: actual }).toEqual({ table: cfg.name, columns: expected });

      const idx = await queryRows<{ indexname: string }>(db, sql`SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = ${cfg.name}`);
      const names = idx.map((i) => i.indexname);
      for (const i of cfg.indexes) expect(names, `index ${i.config.name} on ${cfg.name}`).toContain(i.config.name);
    }
  });

  it('fills defaults: id, role user, token version 0, timestamps', async () => {
    const u = await addUser(db);
    expect(u.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(u.role).toBe('user');
    expect(u.tokenVersion).toBe(0);
    expect(u.createdAt).toBeInstanceOf(Date);
  });

  it('keeps emails unique case-insensitively (stored lower-case, upper-case refused)', async () => {
    await addUser(db, { email: 'dup@example.com' });
    const dup = await failure(addUser(db, { email: 'dup@example.com' }));
    expect(uniqueViolation(dup)).toBe('users_email_key');
    const upper = await failure(addUser(db, { email: 'Dup@Example.com' }));
    expect(sqlState(upper)).toBe('23514'); // check violation: emails are stored lower-case
  });

  it('keeps usernames unique case-insensitively', async () => {
    await addUser(db, { username: 'Alice' });
    const dup = await failure(addUser(db, { username: 'aLICE' }));
    expect(uniqueViolation(dup)).toBe('users_username_key');
  });

  it('refuses an unknown role', async () => {
    const err = await failure(addUser(db, { role: 'root' as 'admin' }));
    expect(sqlState(err)).toBe('23514');
  });

  it('allows one live file per owner and name, and reuse of the name after a soft delete', async () => {
    const u = await addUser(db);
    const [f1] = await db.insert(files).values({ ownerId: u.id, name: 'a.txt', currentVersion: 1 }).returning();
    expect(uniqueViolation(await failure(db.insert(files).values({ ownerId: u.id, name: 'a.txt', currentVersion: 1 })))).toBe(
      'files_owner_name_live_key',
    );
    await db.update(files).set({ deletedAt: new Date() }).where(eq(files.id, f1!.id));
    const [f2] = await db.insert(files).values({ ownerId: u.id, name: 'a.txt', currentVersion: 1 }).returning();
    expect(f2?.id).not.toBe(f1?.id);
    // Another owner may use the same name.
    const v = await addUser(db);
    await db.insert(files).values({ ownerId: v.id, name: 'a.txt', currentVersion: 1 });
    const live = await db.select().from(files).where(and(eq(files.name, 'a.txt'), sql`${files.deletedAt} is null`));
    expect(live).toHaveLength(2);
  });

  it('refuses a file whose owner does not exist', async () => {
    const err = await failure(db.insert(files).values({ ownerId: '00000000-0000-4000-8000-000000000000', name: 'x', currentVersion: 1 }));
    expect(sqlState(err)).toBe('23503');
  });

  it('numbers versions uniquely per file and stores sizes beyond 2^31 exactly', async () => {
    const u = await addUser(db);
    const [f] = await db.insert(files).values({ ownerId: u.id, name: 'big.bin', currentVersion: 1 }).returning();
    const size = 5 * 1024 ** 4; // 5 TiB
    const [v] = await db
      .insert(fileVersions)
      .values({ fileId: f!.id, version: 1, size, sha256: 'ab', chunkCount: 1, mode: 'C' })
      .returning();
    expect(v?.size).toBe(size);
    expect(v?.contentType).toBe('application/octet-stream');
    const again = await failure(db.insert(fileVersions).values({ fileId: f!.id, version: 1, size: 1, sha256: 'cd', chunkCount: 1, mode: 'C' }));
    expect(uniqueViolation(again)).toBe('file_versions_file_version_key');
  });

  it('keeps one placement per chunk and region, in a known state', async () => {
    const u = await addUser(db);
    const row = { ownerId: u.id, hash: 'h1', region: 'us-east-1', state: 'pending' as const, pendingSince: new Date() };
    await db.insert(chunkPlacements).values(row);
    expect(sqlState(await failure(db.insert(chunkPlacements).values(row)))).toBe('23505');
    expect(sqlState(await failure(db.insert(chunkPlacements).values({ ...row, region: 'eu-west-1', state: 'lost' as 'missing' })))).toBe('23514');
    const [p] = await db.select().from(chunkPlacements).where(eq(chunkPlacements.hash, 'h1'));
    expect(p?.attempts).toBe(0);
  });

  it('answers ping', async () => {
    await expect(catalog.ping()).resolves.toBeUndefined();
  });

  it('withoutParams keeps the statement, reason and SQLSTATE of a failed query but drops its parameters', async () => {
    const err = await failure(addUser(db, { email: 'UPPER@x', passwordHash: '$2b$10$secret-hash' }));
    expect(String((err as Error).message)).toContain('$2b$10$secret-hash'); // what the ORM would log
    const clean = withoutParams(err);
    expect(clean.message).not.toContain('secret-hash');
    expect(clean.message).toMatch(/insert into "users"[\s\S]*reason: .*users_email_lower_check/);
    expect((clean as Error & { code?: string }).code).toBe('23514');
  });

  it('keeps its rows across a restart and does not migrate again', async () => {
    const u = await addUser(db, { email: 'persist@example.com' });
    if (target === 'pglite') await catalog.close();
    const again = await t.reopen();
    const rows = await again.db.select().from(users).where(eq(users.email, 'persist@example.com'));
    expect(rows.map((r) => r.id)).toEqual([u.id]);
    const applied = await queryRows<{ n: number }>(again.db, sql`SELECT count(*)::int AS n FROM schema_migrations`);
    expect(applied[0]?.n).toBe(MIGRATIONS.length);
  });
});

