/**
 * A migrated embedded catalog (PGlite) built once and copied into fresh data dirs. Initialising
 * and migrating a new PGlite directory costs about 6 s of wall time and 8 s of CPU; copying a
 * migrated one costs well under a second. The template is made by the product's own code
 * (openCatalog with openPgliteCatalog and `migrate: true`, as the local runtime starts on a fresh
 * data dir), so a seeded dir holds exactly what a fresh start would have made.
 *
 * It lives in node_modules/.cache/echofs-test/, one directory per key: a hash of the migrations
 * module, the PGlite opener and the installed @electric-sql/pglite version. A change to any of
 * them makes a new key, so a stale template is never used. It is built in a temporary directory
 * and renamed into place whole, so a run (or two runs at once) sees either no template or a
 * complete one. The vitest globalSetup (./global-setup.ts) builds it before any test file runs.
 * Beside the data dir it holds the same catalog as a tarball (PGlite's dumpDataDir), from which
 * tests open in-memory catalogs (openSeededCatalog, and test stacks through seededInMemory)
 * without touching the template's files.
 *
 * Fresh initialisation and migration themselves stay covered without the template: the catalog
 * tests migrate new databases (test/integration/catalog*.test.ts), and `npm start` in
 * test/integration/runtime.test.ts starts the runtime as a child process on an empty data dir.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { cp, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Catalog, EmbeddedCatalogOpener } from '#shared/catalog/db.js';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CACHE = join(REPO, 'node_modules', '.cache', 'echofs-test');
/** Written last inside a template, before the rename: a directory without it is never used. */
const COMPLETE = 'complete.json';

/** What a migrated catalog depends on: the migrations, the opener (its options), PGlite itself. */
const INPUTS = ['shared/catalog/migrations.ts', 'shared/catalog/pglite.ts', 'shared/catalog/db.ts', 'node_modules/@electric-sql/pglite/package.json', 'test/helpers/catalog-template.ts'];
/** The template's data dir as a tarball (PGlite's dumpDataDir), for in-memory catalogs. */
const DUMP = 'pglite.tar';

async function templateKey(): Promise<string> {
  const h = createHash('sha256');
  for (const f of INPUTS) {
    h.update(`${f}\0`);
    h.update(await readFile(join(REPO, f)));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 24);
}

async function build(dir: string, key: string): Promise<void> {
  await mkdir(CACHE, { recursive: true });
  const tmp = join(CACHE, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const { openCatalog } = await import('#shared/catalog/db.js');
    const { openPgliteCatalog } = await import('#shared/catalog/pglite.js');
    const catalog = await openCatalog({ embedded: openPgliteCatalog, dataDir: tmp, migrate: true });
    await catalog.close();
    const { PGlite } = await import('@electric-sql/pglite');
    const pg = new PGlite(join(tmp, 'pglite'));
    try {
      await pg.waitReady;
      await writeFile(join(tmp, DUMP), Buffer.from(await (await pg.dumpDataDir('none')).arrayBuffer()));
    } finally {
      await pg.close();
    }
    await writeFile(join(tmp, COMPLETE), JSON.stringify({ key, inputs: INPUTS }));
    try {
      await rename(tmp, dir);
    } catch (err) {
      // Another run renamed its own complete template into place first: use that one.
      if (!existsSync(join(dir, COMPLETE))) throw err;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  // Templates of older keys are left from earlier migrations; keep the cache to the current one.
  for (const e of await readdir(CACHE)) {
    if (e.startsWith('catalog-') && e !== `catalog-${key}`) await rm(join(CACHE, e), { recursive: true, force: true }).catch(() => undefined);
  }
}

let pending: Promise<string> | undefined;

/** The directory of the current template (its PGlite files are in `<dir>/pglite`), built if missing. */
export function catalogTemplate(): Promise<string> {
  pending ??= (async () => {
    const key = await templateKey();
    const dir = join(CACHE, `catalog-${key}`);
    if (!existsSync(join(dir, COMPLETE))) await build(dir, key);
    return dir;
  })();
  pending.catch(() => (pending = undefined));
  return pending;
}

/**
 * Copy the migrated template into `<dataDir>/pglite`, where the local runtime keeps its embedded
 * catalog, unless a catalog is there already. The runtime then opens it as one it made earlier
 * and finds no migration left to apply. Returns whether it copied.
 */
export async function seedCatalog(dataDir: string): Promise<boolean> {
  const target = join(dataDir, 'pglite');
  if (existsSync(join(target, 'PG_VERSION'))) return false;
  const template = await catalogTemplate();
  await mkdir(dataDir, { recursive: true });
  // A copy-on-write clone where the file system has one, else a plain copy.
  await cp(join(template, 'pglite'), target, { recursive: true, mode: constants.COPYFILE_FICLONE });
  return true;
}

let dump: Promise<Blob> | undefined;

/** The template's tarball, read once per process (a worker's files share it). */
function templateDump(): Promise<Blob> {
  dump ??= (async () => new Blob([await readFile(join(await catalogTemplate(), DUMP))]))();
  dump.catch(() => (dump = undefined));
  return dump;
}

/**
 * An in-memory embedded catalog that starts as a copy of the template: what opening PGlite with
 * `migrate: true` makes, without initialising and migrating it again (about 0.4 s of CPU instead
 * of 1.6–3.6 s, and nothing on disk). For tests that need a catalog, not tests of migrating one
 * (those open fresh databases on purpose).
 */
export async function openSeededCatalog(): Promise<Catalog> {
  const { openCatalog } = await import('#shared/catalog/db.js');
  return openCatalog({ embedded: await seededInMemory(), migrate: true });
}

/**
 * An embedded catalog opener for the local system (its `embeddedCatalog` start option) that opens
 * a copy of the template in memory, whatever data dir it is given: a fraction of a second of CPU
 * where copying the template's thousand files into the data dir takes 1.5 s. Nothing of it is on
 * disk, so a restart on the same data dir finds no catalog.
 */
export async function seededInMemory(): Promise<EmbeddedCatalogOpener> {
  const { pgliteCatalogFromDump } = await import('#shared/catalog/pglite.js');
  const open = pgliteCatalogFromDump(await templateDump());
  return (_dataDir, opts) => open(undefined, opts);
}
