/**
 * Opening the catalog. One Drizzle database type (`Db`) over the schema, whichever engine is
 * underneath: any PostgreSQL through node-postgres (DATABASE_URL), Aurora through the RDS Data
 * API (the cloud), or an embedded database the caller brings (`embedded`: PGlite, which only the
 * local runtime imports, from ./pglite.ts — a deployed bundle never references it).
 *
 * Opening never migrates unless asked (`migrate: true`): in the cloud the migrate function (a
 * deploy-time custom resource) applies the migrations, so a function's cold start runs no DDL;
 * the local runtime asks for them at start.
 */
import type { RDSDataClient } from '@aws-sdk/client-rds-data';
import { createHash } from 'node:crypto';
import { sql, type SQL } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import type { Config } from '../config.js';
import { logger } from '../observability.js';
import { migrate } from './migrations.js';
import { schema } from './schema.js';

export type CatalogSchema = typeof schema;

/** The catalog database: the same query API on PGlite, node-postgres and the RDS Data API. */
export type Db = PgDatabase<PgQueryResultHKT, CatalogSchema>;

/** A transaction handle, as passed to the callback of `db.transaction(...)`. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** Most values sent as parameters of one statement (hash lists, manifest rows); longer lists go in batches. */
export const BATCH = 1000;

/** The comment that marks a statement for `prepared` (see there). */
const PREPARED_MARK = '/* prepared */ ';

/**
 * Mark a hot-path statement to be prepared once per connection on a PostgreSQL server: the server
 * then parses it once and, after a few runs, plans it once, instead of on every run (a small
 * upload's commit statement took more time in parse and plan than in execution). Only statements
 * of a bounded number of shapes may be marked: each distinct text stays prepared on every
 * connection for the connection's life. The mark is a comment, so the embedded catalog and the
 * RDS Data API run the statement as it is.
 */
export function prepared(query: SQL): SQL {
  return sql`${sql.raw(PREPARED_MARK)}${query}`;
}

/** The name a marked statement is prepared under: its text's hash (one name, one text). */
export function preparedName(text: string): string | undefined {
  return text.startsWith(PREPARED_MARK) ? `echofs_${createHash('sha256').update(text).digest('hex').slice(0, 32)}` : undefined;
}

export type CatalogKind = 'pglite' | 'postgres' | 'data-api';

export interface Catalog {
  db: Db;
  kind: CatalogKind;
  /** Resolves when the database answers a trivial query; rejects otherwise. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface DataApiOptions {
  resourceArn: string;
  secretArn: string;
  database: string;
  /** AWS region of the cluster; defaults to the SDK's own resolution. */
  region?: string;
  /** A ready client (tests); by default one is created and destroyed with the catalog. */
  client?: RDSDataClient;
}

/**
 * Opens an embedded catalog keeping its files under `dataDir` (in memory when undefined).
 * `prepare` (the migrations, when the caller migrates) may be run by the opener on a fresh
 * directory before it hands the catalog out.
 */
export type EmbeddedCatalogOpener = (dataDir: string | undefined, opts?: { prepare?: (db: Db) => Promise<unknown> }) => Promise<Catalog>;

export interface OpenCatalogOptions {
  /** postgres://… : use that server through node-postgres. */
  databaseUrl?: string;
  /** Aurora through the RDS Data API (the cloud). */
  dataApi?: DataApiOptions;
  /** Neither of the above: the embedded database (the local runtime passes openPgliteCatalog). */
  embedded?: EmbeddedCatalogOpener;
  /** Where the embedded database keeps its files; omitted means in memory. */
  dataDir?: string;
  /** Apply pending migrations on open (default false: the migrate function applies them in the cloud). */
  migrate?: boolean;
  /** node-postgres pool size (default 10). */
  poolMax?: number;
}

/**
 * Rows of a raw statement (`db.execute(sql\`…\`)`). Every driver returns an object with `rows`;
 * this hides the per-driver result type behind one shape.
 */
export async function queryRows<T extends Record<string, unknown> = Record<string, unknown>>(
  db: Db | Tx,
  query: SQL,
): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows?: T[] };
  return result.rows ?? [];
}

export async function openCatalog(opts: OpenCatalogOptions = {}): Promise<Catalog> {
  const catalog = opts.dataApi
    ? await openDataApi(opts.dataApi)
    : opts.databaseUrl
      ? await openPostgres(opts.databaseUrl, opts.poolMax ?? 10)
      : await openEmbedded(opts);
  if (opts.migrate === true) {
    try {
      await migrate(catalog.db);
    } catch (err) {
      await catalog.close().catch(() => undefined);
      throw err;
    }
  }
  return catalog;
}

/**
 * The catalog the configuration asks for: Data API in the cloud, DATABASE_URL, else the embedded
 * database when the caller brings one (the local runtime). Migrates only when asked.
 */
export async function catalogFromConfig(config: Config, opts: { migrate?: boolean; embedded?: EmbeddedCatalogOpener } = {}): Promise<Catalog> {
  if (config.dataApi) return openCatalog({ dataApi: config.dataApi, migrate: opts.migrate });
  if (config.databaseUrl) return openCatalog({ databaseUrl: config.databaseUrl, migrate: opts.migrate });
  if (config.stage === 'cloud' || !opts.embedded) {
    throw new Error('No catalog configured: set ECHOFS_DB_CLUSTER_ARN and ECHOFS_DB_SECRET_ARN, or DATABASE_URL');
  }
  return openCatalog({ embedded: opts.embedded, dataDir: config.dataDir, migrate: opts.migrate });
}

function openEmbedded(opts: OpenCatalogOptions): Promise<Catalog> {
  if (!opts.embedded) {
    throw new Error('No catalog to open: give databaseUrl, dataApi, or an embedded opener (openPgliteCatalog from shared/catalog/pglite.ts)');
  }
  return opts.embedded(opts.dataDir, opts.migrate === true ? { prepare: (db) => migrate(db) } : {});
}

async function openPostgres(url: string, max: number): Promise<Catalog> {
  const { default: pg } = await import('pg');
  const { drizzle } = await import('drizzle-orm/node-postgres');
  // Statements marked by `prepared` run as named (prepared) statements on each connection.
  class PreparingClient extends pg.Client {}
  const query = pg.Client.prototype.query;
  PreparingClient.prototype.query = function (this: InstanceType<typeof pg.Client>, config: unknown, ...rest: unknown[]) {
    const c = config as { name?: string; text?: unknown } | undefined;
    const name = c && typeof c === 'object' && c.name === undefined && typeof c.text === 'string' ? preparedName(c.text) : undefined;
    return (query as (this: unknown, ...a: unknown[]) => unknown).call(this, name ? { ...c, name } : config, ...rest);
  } as typeof query;
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 30_000, Client: PreparingClient });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (err) => logger.warn('catalog connection error', { error: err }));
  const db = drizzle({ client: pool, schema });
  let closed = false;
  return {
    db,
    kind: 'postgres',
    async ping() {
      await pool.query('select 1');
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}

async function openDataApi(opts: DataApiOptions): Promise<Catalog> {
  const { drizzle } = await import('drizzle-orm/aws-data-api/pg');
  const owned = !opts.client;
  const client = opts.client ?? new (await import('@aws-sdk/client-rds-data')).RDSDataClient(opts.region ? { region: opts.region } : {});
  const db = drizzle({ client, schema, resourceArn: opts.resourceArn, secretArn: opts.secretArn, database: opts.database });
  return {
    db,
    kind: 'data-api',
    async ping() {
      await db.execute('select 1');
    },
    async close() {
      if (owned) client.destroy();
    },
  };
}

/**
 * The constraint a unique violation (SQLSTATE 23505) broke, or undefined for any other error.
 * Looks through driver wrappers (Drizzle wraps the driver's error in `cause`); the Data API only
 * carries the server's message text.
 */
export function uniqueViolation(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const o = e as { code?: unknown; constraint?: unknown; message?: unknown; cause?: unknown };
    if (o.code === '23505') return typeof o.constraint === 'string' ? o.constraint : constraintFromMessage(o.message) ?? 'unknown';
    const fromMessage = constraintFromMessage(o.message);
    if (fromMessage) return fromMessage;
    e = o.cause;
  }
  return undefined;
}

/**
 * True when a statement failed on a deadlock (SQLSTATE 40P01): the server rolled it back and it
 * may be run again. Looks through driver wrappers; the Data API only carries the message text.
 */
export function deadlocked(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const o = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (o.code === '40P01' || (typeof o.message === 'string' && /deadlock detected/.test(o.message))) return true;
    e = o.cause;
  }
  return false;
}

function constraintFromMessage(message: unknown): string | undefined {
  if (typeof message !== 'string') return undefined;
  return /duplicate key value violates unique constraint "([^"]+)"/.exec(message)?.[1];
}

export { withoutParams } from '../errors.js';
