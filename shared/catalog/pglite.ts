/**
 * The embedded catalog (PGlite), for the local runtime and tests only. Nothing a Lambda bundle
 * loads may import this module: esbuild lifts `drizzle-orm/pglite`'s static import of
 * `@electric-sql/pglite` to the top of a bundle even behind `await import()`, and the package is
 * not in the bundles. The local runtime hands it to the catalog factory (`embedded`).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import type { Catalog, EmbeddedCatalogOpener } from './db.js';
import { schema } from './schema.js';

/** PGlite keeping its files at <dataDir>/pglite, or in memory when dataDir is undefined. */
export const openPgliteCatalog: EmbeddedCatalogOpener = async (dataDir) => {
  let dir: string | undefined;
  if (dataDir) {
    dir = join(dataDir, 'pglite');
    await mkdir(dir, { recursive: true });
  }
  const client = new PGlite(dir);
  await client.waitReady;
  const db = drizzle({ client, schema });
  let closed = false;
  const catalog: Catalog = {
    db,
    kind: 'pglite',
    async ping() {
      await client.query('select 1');
    },
    async close() {
      if (closed) return;
      closed = true;
      await client.close();
    },
  };
  return catalog;
};
