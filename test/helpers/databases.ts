/**
 * Scratch databases on a real PostgreSQL server, for tests and benchmarks: each gets a fresh,
 * empty database (echofs_t_<random> unless named) that is dropped afterwards, so runs in parallel
 * never see each other's rows. `createMigratedDatabase` gives one that holds the migrated catalog
 * already: a copy (CREATE DATABASE … TEMPLATE) of a database migrated once by the product's own
 * migrations and kept on the server under a name keyed by them (echofs_tpl_<hash>).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export interface ScratchDatabase {
  /** Connection URL of the new database. */
  url: string;
  drop(): Promise<void>;
}

async function onServer(serverUrl: string, statement: string): Promise<void> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(statement);
  } finally {
    await c.end();
  }
}

/** A fresh, empty database on the server at `serverUrl`. */
export function createTestDatabase(serverUrl: string, name = `echofs_t_${randomBytes(6).toString('hex')}`): Promise<ScratchDatabase> {
  return create(serverUrl, name, '');
}

async function create(serverUrl: string, name: string, clause: string): Promise<ScratchDatabase> {
  if (!/^[a-z0-9_]{1,63}$/.test(name)) throw new Error(`invalid scratch database name '${name}'`);
  await onServer(serverUrl, `CREATE DATABASE ${name}${clause}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => onServer(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

const REPO = fileURLToPath(new URL('../..', import.meta.url));
/** What a migrated PostgreSQL catalog depends on: the migrations and the code that runs them. */
const TEMPLATE_INPUTS = ['shared/catalog/migrations.ts', 'shared/catalog/db.ts', 'test/helpers/databases.ts'];

async function templateName(): Promise<string> {
  const h = createHash('sha256');
  for (const f of TEMPLATE_INPUTS) h.update(`${f}\0`).update(await readFile(`${REPO}${f}`)).update('\0');
  return `echofs_tpl_${h.digest('hex').slice(0, 20)}`;
}

async function databaseExists(serverUrl: string, name: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    return (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  } finally {
    await c.end();
  }
}

const templates = new Map<string, Promise<string>>();

/**
 * The name of the migrated template database on the server at `serverUrl`, made if missing: a
 * scratch database is migrated (openCatalog with `migrate: true`, as a system starting on an empty
 * database does), closed, and renamed into place, so a run (or two at once) sees either no
 * template or a complete one. Templates of other migrations are dropped where nothing uses them.
 */
export function migratedTemplate(serverUrl: string): Promise<string> {
  let pending = templates.get(serverUrl);
  if (!pending) {
    pending = (async () => {
      const name = await templateName();
      if (await databaseExists(serverUrl, name)) return name;
      const tmp = await createTestDatabase(serverUrl, `echofs_tplnew_${randomBytes(6).toString('hex')}`);
      try {
        const { openCatalog } = await import('#shared/catalog/db.js');
        const catalog = await openCatalog({ databaseUrl: tmp.url, poolMax: 1, migrate: true });
        await catalog.close();
        const suffix = tmp.url.slice(tmp.url.lastIndexOf('/') + 1);
        await onServer(serverUrl, `ALTER DATABASE ${suffix} RENAME TO ${name}`).catch(async (err: unknown) => {
          // Another run renamed its own template into place first: use that one.
          if (!(await databaseExists(serverUrl, name))) throw err;
        });
      } finally {
        await tmp.drop();
      }
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        const old = await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'echofs\\_tpl\\_%' AND datname <> $1", [name]);
        for (const { datname } of old.rows) await c.query(`DROP DATABASE IF EXISTS ${datname}`).catch(() => undefined);
      } finally {
        await c.end();
      }
      return name;
    })();
    templates.set(serverUrl, pending);
    pending.catch(() => templates.delete(serverUrl));
  }
  return pending;
}

/** A fresh database on the server at `serverUrl` that holds the migrated catalog (a copy of the template). */
export async function createMigratedDatabase(serverUrl: string, name = `echofs_t_${randomBytes(6).toString('hex')}`): Promise<ScratchDatabase> {
  return create(serverUrl, name, ` TEMPLATE ${await migratedTemplate(serverUrl)}`);
}
