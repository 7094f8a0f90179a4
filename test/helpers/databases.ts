/**
 * Scratch databases on a real PostgreSQL server, for tests and benchmarks: each gets a fresh,
 * empty database (echofs_t_<random> unless named) that is dropped afterwards, so runs in parallel
 * never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
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
export async function createTestDatabase(serverUrl: string, name = `echofs_t_${randomBytes(6).toString('hex')}`): Promise<ScratchDatabase> {
  if (!/^[a-z0-9_]{1,63}$/.test(name)) throw new Error(`invalid scratch database name '${name}'`);
  await onServer(serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => onServer(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
