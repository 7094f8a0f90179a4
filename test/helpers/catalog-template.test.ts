/**
 * The catalog template that test data dirs are seeded from is the current migrated catalog: a
 * seeded dir has every migration recorded and a migration run on it applies nothing, and a dir
 * that already has a catalog is never overwritten.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openCatalog, queryRows } from '#shared/catalog/db.js';
import { MIGRATIONS, migrate } from '#shared/catalog/migrations.js';
import { openPgliteCatalog } from '#shared/catalog/pglite.js';
import { seedCatalog } from './catalog-template.js';

let dir: string;
beforeAll(async () => void (dir = await mkdtemp(join(tmpdir(), 'echofs-seed-'))));
afterAll(() => rm(dir, { recursive: true, force: true }));

it('a seeded data dir holds every migration, so migrating it applies none', async () => {
  expect(await seedCatalog(dir)).toBe(true);
  const catalog = await openCatalog({ embedded: openPgliteCatalog, dataDir: dir, migrate: false });
  try {
    const rows = await queryRows<{ id: string }>(catalog.db, sql`SELECT id FROM schema_migrations ORDER BY id`);
    expect(rows.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id).sort());
    expect((await migrate(catalog.db)).applied).toEqual([]);
    await catalog.db.execute(sql`CREATE TABLE seeded_marker (id int)`);
  } finally {
    await catalog.close();
  }
});

it('leaves a data dir that already has a catalog as it is', async () => {
  expect(await seedCatalog(dir)).toBe(false);
  const catalog = await openCatalog({ embedded: openPgliteCatalog, dataDir: dir, migrate: false });
  try {
    const rows = await queryRows<{ n: number }>(catalog.db, sql`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'seeded_marker'`);
    expect(rows[0]?.n).toBe(1);
  } finally {
    await catalog.close();
  }
});
