/**
 * The embedded catalog (PGlite), for the local runtime and tests only. Nothing a Lambda bundle
 * loads may import this module: esbuild lifts `drizzle-orm/pglite`'s static import of
 * `@electric-sql/pglite` to the top of a bundle even behind `await import()`, and the package is
 * not in the bundles. The local runtime hands it to the catalog factory (`embedded`).
 */
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import type { Catalog, EmbeddedCatalogOpener } from './db.js';
import { schema } from './schema.js';

/**
 * 32 MB of shared buffers (PostgreSQL's default is 128 MB) fit in PGlite's initial 128 MiB of
 * WebAssembly memory, so the catalog of a local system or a test stays near 150 MiB resident
 * instead of about 300 MiB; a laptop's catalog is far smaller than that cache.
 */
const OPTIONS = { postgresqlconf: 'shared_buffers=32MB' } as const;

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** PGlite keeping its files at <dataDir>/pglite, or in memory when dataDir is undefined. */
export const openPgliteCatalog: EmbeddedCatalogOpener = async (dataDir, opts = {}) => {
  let dir: string | undefined;
  if (dataDir) {
    dir = join(dataDir, 'pglite');
    await mkdir(dir, { recursive: true });
  }
  if (dir && !(await exists(join(dir, 'PG_VERSION')))) {
    // A fresh directory is initialised (initdb, and the migrations when the caller migrates) by a
    // first instance, then closed and opened again: initialising grows the WebAssembly memory by a
    // few hundred MiB, which a running instance never gives back.
    const init = new PGlite(dir, OPTIONS);
    try {
      await init.waitReady;
      await opts.prepare?.(drizzle({ client: init, schema }));
    } finally {
      await init.close();
    }
    // The closed instance's memory is garbage from here on, but V8 only frees it at a major
    // collection, which an idle server may not run for a long time. Where the garbage collector is
    // exposed (`npm start` runs node with --expose-gc), what can be is collected now (about 30 MiB);
    // the rest is still reachable here, and the local system collects it once its start is done.
    (globalThis as { gc?: () => void }).gc?.();
  }
  return catalogOf(new PGlite(dir, OPTIONS));
};

/**
 * An opener of in-memory catalogs that start as a copy of `dump` (a data dir tarball made by
 * PGlite's dumpDataDir): no initdb, no file on disk. Tests open many catalogs from one migrated
 * dump this way; `dataDir` must be undefined.
 */
export function pgliteCatalogFromDump(dump: Blob): EmbeddedCatalogOpener {
  return async (dataDir) => {
    if (dataDir !== undefined) throw new Error('a catalog opened from a dump lives in memory: give no dataDir');
    return catalogOf(new PGlite({ ...OPTIONS, loadDataDir: dump }));
  };
}

async function catalogOf(client: PGlite): Promise<Catalog> {
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
}
