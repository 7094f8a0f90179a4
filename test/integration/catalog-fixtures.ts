/**
 * Catalogs for tests: PGlite always; also real PostgreSQL when DATABASE_URL is set. Each
 * Postgres catalog gets a fresh database (echofs_t_<random>) that is dropped afterwards, so test
 * files running in parallel never see each other's rows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCatalog, type Catalog } from '#shared/catalog/db.js';
import { openPgliteCatalog } from '#shared/catalog/pglite.js';
import { openSeededCatalog } from '../helpers/catalog-template.js';
import { createTestDatabase } from '../helpers/databases.js';

export type CatalogTarget = 'pglite' | 'postgres';

/** The engines to run catalog tests on: PGlite, plus Postgres when DATABASE_URL is set. */
export const catalogTargets: CatalogTarget[] = process.env.DATABASE_URL ? ['pglite', 'postgres'] : ['pglite'];

export { createTestDatabase, type ScratchDatabase as TestDatabase } from '../helpers/databases.js';

export interface TestCatalog {
  catalog: Catalog;
  /** Open another catalog on the same database (Postgres) or the same directory after close (PGlite). */
  reopen(opts?: { migrate?: boolean }): Promise<Catalog>;
  /** Close the catalog and remove its database or directory. */
  dispose(): Promise<void>;
}

/**
 * `seeded`: on PGlite, an in-memory catalog from the migrated template (no initialisation, and
 * every migration already applied; it cannot be reopened), for tests that need a catalog rather
 * than a migration.
 */
export async function openTestCatalog(target: CatalogTarget, opts: { migrate?: boolean; seeded?: boolean } = {}): Promise<TestCatalog> {
  if (target === 'postgres') {
    const base = process.env.DATABASE_URL;
    if (!base) throw new Error('DATABASE_URL is not set');
    const db = await createTestDatabase(base);
    const opened: Catalog[] = [];
    const open = async (o: { migrate?: boolean }) => {
      const c = await openCatalog({ databaseUrl: db.url, migrate: o.migrate ?? true, poolMax: 4 });
      opened.push(c);
      return c;
    };
    const catalog = await open(opts);
    return {
      catalog,
      reopen: (o = {}) => open(o),
      async dispose() {
        for (const c of opened) await c.close();
        await db.drop();
      },
    };
  }
  if (opts.seeded) {
    const catalog = await openSeededCatalog();
    return {
      catalog,
      reopen: () => Promise.reject(new Error('an in-memory seeded catalog cannot be reopened: open it without `seeded`')),
      dispose: () => catalog.close(),
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'echofs-pglite-'));
  const opened: Catalog[] = [];
  const open = async (o: { migrate?: boolean }) => {
    const c = await openCatalog({ embedded: openPgliteCatalog, dataDir: dir, migrate: o.migrate ?? true });
    opened.push(c);
    return c;
  };
  const catalog = await open(opts);
  return {
    catalog,
    reopen: (o = {}) => open(o),
    async dispose() {
      for (const c of opened) await c.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
