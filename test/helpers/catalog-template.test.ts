/**
 * The catalog template that test data dirs are seeded from is the current migrated catalog: a
 * seeded dir has every migration recorded and a migration run on it applies nothing, and a dir
 * that already has a catalog is never overwritten. An in-memory catalog opened from the template's
 * dump is migrated the same way, and each one is its own database. Test stacks open theirs that
 * way unless they are to be started again on their data dir, or take a scratch copy of the
 * migrated PostgreSQL template database when the run has DATABASE_URL.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openCatalog, queryRows } from '#shared/catalog/db.js';
import { MIGRATIONS, migrate } from '#shared/catalog/migrations.js';
import { openPgliteCatalog } from '#shared/catalog/pglite.js';
import { openSeededCatalog, seedCatalog } from './catalog-template.js';

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

it('an in-memory catalog from the dump holds every migration, and two of them share no rows', async () => {
  const a = await openSeededCatalog();
  const b = await openSeededCatalog();
  try {
    const rows = await queryRows<{ id: string }>(a.db, sql`SELECT id FROM schema_migrations ORDER BY id`);
    expect(rows.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id).sort());
    expect((await migrate(a.db)).applied).toEqual([]);
    await a.db.execute(sql`CREATE TABLE dump_marker (id int)`);
    const inB = await queryRows<{ n: number }>(b.db, sql`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'dump_marker'`);
    expect(inB[0]?.n, 'a table made in one catalog is not in the other').toBe(0);
  } finally {
    await a.close();
    await b.close();
  }
});

it('a test stack keeps its catalog in memory unless it is to be restarted on its data dir, and says so when misused', async () => {
  const { startTestStack } = await import('./stack.js');
  const inMemory = await startTestStack({}, { schedules: false, catalog: 'memory' });
  expect(inMemory.system.services.catalog.kind).toBe('pglite');
  const user = await inMemory.register();
  expect(user.user.role).toBe('user');
  expect(existsSync(join(inMemory.dataDir, 'pglite'))).toBe(false);
  await expect(inMemory.stop({ keepData: true })).rejects.toThrow(/catalog was in memory.*catalog: 'disk'/);
  await rm(inMemory.dataDir, { recursive: true, force: true });

  const onDisk = await startTestStack({}, { schedules: false, catalog: 'disk' });
  const kept = await onDisk.register();
  expect(existsSync(join(onDisk.dataDir, 'pglite', 'PG_VERSION'))).toBe(true);
  await onDisk.stop({ keepData: true });
  const again = await startTestStack({}, { schedules: false, dataDir: onDisk.dataDir });
  try {
    expect((await again.fetchJson('/api/v1/auth/me', { token: kept.token })).status).toBe(200);
  } finally {
    await again.stop();
    await rm(onDisk.dataDir, { recursive: true, force: true });
  }
});

const serverUrl = process.env.DATABASE_URL;

it.runIf(serverUrl)('with DATABASE_URL, a test stack works on its own migrated copy of the template database and drops it when it stops', async () => {
  const { startTestStack } = await import('./stack.js');
  const { migratedTemplate } = await import('./databases.js');
  const pg = (await import('pg')).default;
  const template = await migratedTemplate(serverUrl as string);
  const a = await startTestStack({}, { schedules: false });
  const b = await startTestStack({}, { schedules: false }).catch(async (err: unknown) => {
    await a.stop();
    throw err;
  });
  const names: string[] = [];
  for (const s of [a, b]) {
    expect(s.system.services.catalog.kind).toBe('postgres');
    names.push(String((await queryRows<{ name: string }>(s.system.services.catalog.db, sql`SELECT current_database() AS name`))[0]?.name));
  }
  const server = new pg.Client({ connectionString: serverUrl });
  await server.connect();
  const exists = async (name: string) => (await server.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  try {
    expect(names[0]).toMatch(/^echofs_t_[0-9a-f]{12}$/);
    expect(names[1], 'each stack has a database of its own').not.toBe(names[0]);
    const user = await a.register();
    expect((await a.fetchJson('/api/v1/auth/me', { token: user.token })).status).toBe(200);
    expect((await b.fetchJson('/api/v1/auth/login', { body: { email: user.email, password: user.password } })).status, 'a user of one stack is unknown to the other').toBe(401);
    const migrated = await queryRows<{ id: string }>(a.system.services.catalog.db, sql`SELECT id FROM schema_migrations ORDER BY id`);
    expect(migrated.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id).sort());
    const userInTemplate = new pg.Client({ connectionString: Object.assign(new URL(serverUrl as string), { pathname: `/${template}` }).toString() });
    await userInTemplate.connect();
    try {
      expect((await userInTemplate.query('SELECT count(*)::int AS n FROM users')).rows[0]?.n, 'the template is left as migrated').toBe(0);
    } finally {
      await userInTemplate.end();
    }

    await expect(a.stop({ keepData: true })).rejects.toThrow(/scratch PostgreSQL database.*catalog: 'disk'/);
    await rm(a.dataDir, { recursive: true, force: true });
    await b.stop();
    expect(await exists(names[0] ?? ''), 'dropped at stop').toBe(false);
    expect(await exists(names[1] ?? ''), 'dropped at stop').toBe(false);
    expect(await exists(template)).toBe(true);
  } finally {
    await server.end();
    // Whatever failed above, neither scratch database outlives the test (stopping again is harmless).
    await Promise.allSettled([a.stop(), b.stop()]);
    await rm(a.dataDir, { recursive: true, force: true });
  }
});
