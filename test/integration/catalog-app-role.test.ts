/**
 * The runtime role on a real PostgreSQL server (DATABASE_URL; skipped without it, as PGlite has a
 * single user): the migrate handler, connected as the owner, migrates a fresh database and creates
 * the role; connected as that role, every catalog table can be read and written and nothing can be
 * created, altered, dropped or truncated; a table a later migration creates is writable without a
 * new grant; running the setup again is harmless; the stored password verifier is the one
 * PostgreSQL itself computes.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '#shared/catalog/db.js';
import { ensureAppRole, scramVerifier, validateAppRole } from '#shared/catalog/app-role.js';
import { MIGRATIONS } from '#shared/catalog/migrations.js';
import { createMigrateHandler, readAppRoleSecret } from '#functions/migrate/handler.js';
import { createTestDatabase, type ScratchDatabase } from '../helpers/databases.js';

const serverUrl = process.env.DATABASE_URL;

/** SQLSTATE of a failed statement (42501 = insufficient_privilege, 42P01 = undefined_table). */
async function sqlState(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return String((err as { code?: unknown }).code);
  }
  return 'succeeded';
}

describe.skipIf(!serverUrl)('runtime catalog role on PostgreSQL (DATABASE_URL)', () => {
  // Roles belong to the whole server: a unique name per run keeps parallel runs apart.
  const role = { username: `echofs_app_t_${randomBytes(5).toString('hex')}`, password: randomBytes(24).toString('base64url') };
  let db: ScratchDatabase;
  let owner: Catalog;
  let app: pg.Client;
  let ownerClient: pg.Client;

  const asRole = (database: ScratchDatabase) => {
    const url = new URL(database.url);
    url.username = role.username;
    url.password = role.password;
    return url.toString();
  };

  beforeAll(async () => {
    db = await createTestDatabase(serverUrl!);
    owner = await openCatalog({ databaseUrl: db.url, migrate: false, poolMax: 2 });
    const res = await createMigrateHandler({
      openCatalog: async () => ({ ...owner, close: async () => undefined }),
      appRole: async () => role,
      sleep: async () => undefined,
    })({ RequestType: 'Create' });
    expect(res.Data).toEqual({ Applied: MIGRATIONS.map((m) => m.id).join(','), AppRole: role.username });
    app = new pg.Client({ connectionString: asRole(db) });
    await app.connect();
    ownerClient = new pg.Client({ connectionString: db.url });
    await ownerClient.connect();
  });

  afterAll(async () => {
    await app?.end();
    await ownerClient?.end();
    await owner?.close();
    await db?.drop();
    // The role outlives the database: remove it from the server.
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try {
      await c.query(`DROP ROLE IF EXISTS ${role.username}`);
    } finally {
      await c.end();
    }
  });

  const catalogTables = async () =>
    (await ownerClient.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations' ORDER BY 1`)).rows.map((r) => r.t);

  it('connects as the role, which is no superuser and may create neither databases nor roles', async () => {
    const { rows } = await app.query<{ me: string; rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean }>(
      'SELECT current_user AS me, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user',
    );
    expect(rows[0]).toEqual({ me: role.username, rolsuper: false, rolcreatedb: false, rolcreaterole: false });
  });

  it('may select, insert, update and delete in every catalog table, and only that', async () => {
    const tables = await catalogTables();
    expect(tables).toEqual(expect.arrayContaining(['users', 'files', 'file_versions', 'version_chunks', 'chunks', 'chunk_placements', 'upload_sessions']));
    for (const t of tables) {
      const { rows } = await ownerClient.query<Record<string, boolean>>(
        `SELECT has_table_privilege($1, $2, 'SELECT') AS s, has_table_privilege($1, $2, 'INSERT') AS i, has_table_privilege($1, $2, 'UPDATE') AS u,
                has_table_privilege($1, $2, 'DELETE') AS d, has_table_privilege($1, $2, 'TRUNCATE') AS tr, has_table_privilege($1, $2, 'REFERENCES') AS rf,
                has_table_privilege($1, $2, 'TRIGGER') AS tg`,
        [role.username, `public.${t}`],
      );
      expect(rows[0], t).toEqual({ s: true, i: true, u: true, d: true, tr: false, rf: false, tg: false });
    }
  });

  it('writes and reads real rows as the role: a user, a file, its version and a chunk placement', async () => {
    const user = await app.query<{ id: string }>(`INSERT INTO users (username, email, password_hash) VALUES ('ann', 'ann@example.com', 'x') RETURNING id`);
    const uid = user.rows[0]!.id;
    const file = await app.query<{ id: string }>(`INSERT INTO files (owner_id, name, current_version) VALUES ($1, 'a.txt', 1) RETURNING id`, [uid]);
    await app.query(`INSERT INTO file_versions (file_id, version, size, sha256, chunk_count, mode) VALUES ($1, 1, 3, 'h', 1, 'C')`, [file.rows[0]!.id]);
    await app.query(`INSERT INTO chunk_placements (owner_id, hash, region, state) VALUES ($1, 'h', 'us-east-1', 'pending')`, [uid]);
    await app.query(`UPDATE chunk_placements SET state = 'present' WHERE owner_id = $1`, [uid]);
    const placed = await app.query(`SELECT state FROM chunk_placements WHERE owner_id = $1`, [uid]);
    expect(placed.rows).toEqual([{ state: 'present' }]);
    await app.query(`DELETE FROM chunk_placements WHERE owner_id = $1`, [uid]);
    expect((await app.query(`SELECT 1 FROM chunk_placements WHERE owner_id = $1`, [uid])).rowCount).toBe(0);
  });

  it('reads the migration ledger but cannot write it', async () => {
    const { rows } = await app.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id));
    expect(await sqlState(app.query(`INSERT INTO schema_migrations (id) VALUES ('9999_forged')`))).toBe('42501');
    expect(await sqlState(app.query(`DELETE FROM schema_migrations`))).toBe('42501');
  });

  it('cannot create, alter, drop, truncate or index anything', async () => {
    const denied = {
      createTable: await sqlState(app.query('CREATE TABLE intruder (id int)')),
      createSchema: await sqlState(app.query('CREATE SCHEMA intruder')),
      createView: await sqlState(app.query('CREATE VIEW intruder AS SELECT 1 AS one')),
      createFunction: await sqlState(app.query(`CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'`)),
      alterTable: await sqlState(app.query('ALTER TABLE users ADD COLUMN intruder text')),
      dropTable: await sqlState(app.query('DROP TABLE chunk_placements')),
      truncate: await sqlState(app.query('TRUNCATE files CASCADE')),
      createIndex: await sqlState(app.query('CREATE INDEX intruder_idx ON users (email)')),
      createRole: await sqlState(app.query(`CREATE ROLE intruder`)),
    };
    expect(denied).toEqual({
      createTable: '42501',
      createSchema: '42501',
      createView: '42501',
      createFunction: '42501',
      alterTable: '42501',
      dropTable: '42501',
      truncate: '42501',
      createIndex: '42501',
      createRole: '42501',
    });
    // Nothing changed: the table is still there and has no new column.
    const cols = await ownerClient.query(`SELECT 1 FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'intruder'`);
    expect(cols.rowCount).toBe(0);
    // Passing rights on is refused too (PostgreSQL only warns, and grants nothing).
    await app.query('GRANT SELECT ON users TO PUBLIC');
    const toPublic = await ownerClient.query(`SELECT 1 FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = 'public.users'::regclass AND a.grantee = 0`);
    expect(toPublic.rowCount).toBe(0);
  });

  it('gets data rights on a table a later migration creates, without a new grant', async () => {
    // Created by the owner after the setup, as the next migration would be.
    await owner.db.execute(`CREATE TABLE later_table (id serial PRIMARY KEY, note text)`);
    await app.query(`INSERT INTO later_table (note) VALUES ('written by the runtime role')`);
    const { rows } = await app.query(`SELECT note FROM later_table`);
    expect(rows).toEqual([{ note: 'written by the runtime role' }]);
    expect(await sqlState(app.query('DROP TABLE later_table'))).toBe('42501');
  });

  it('running the setup again changes nothing but the password verifier', async () => {
    const before = await ownerClient.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role.username]);
    const again = await ensureAppRole(owner.db, role);
    expect(again).toEqual({ created: false, schema: 'public' });
    const after = await ownerClient.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role.username]);
    expect(after.rows[0]?.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
    expect(after.rows[0]?.rolpassword).not.toBe(before.rows[0]?.rolpassword);
    const { rows } = await ownerClient.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_tables t WHERE schemaname = 'public' AND tablename <> 'schema_migrations'
         AND NOT has_table_privilege($1, t.schemaname || '.' || t.tablename, 'SELECT,INSERT,UPDATE,DELETE')`,
      [role.username],
    );
    expect(rows[0]?.n).toBe(0);
  });

  it('stores the SCRAM verifier PostgreSQL itself computes for the same password and salt', async () => {
    // Let the server hash a password, then compute ours with the server's salt and iterations.
    const probe = `echofs_scram_t_${randomBytes(5).toString('hex')}`;
    const password = randomBytes(18).toString('base64url');
    try {
      await ownerClient.query(`SET password_encryption = 'scram-sha-256'`);
      await ownerClient.query(`CREATE ROLE ${probe} LOGIN PASSWORD '${password}'`);
      const { rows } = await ownerClient.query<{ v: string }>('SELECT rolpassword AS v FROM pg_authid WHERE rolname = $1', [probe]);
      const server = rows[0]!.v;
      const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(server);
      expect(m, server).not.toBeNull();
      expect(scramVerifier(password, Buffer.from(m![2]!, 'base64'), Number(m![1]))).toBe(server);
    } finally {
      await ownerClient.query(`DROP ROLE IF EXISTS ${probe}`);
    }
  });
});

describe('runtime role credentials', () => {
  it('accepts a generated secret and refuses names and passwords that are not safe, without echoing the password', async () => {
    expect(validateAppRole({ username: 'echofs_app', password: 'A'.repeat(30) })).toEqual({ username: 'echofs_app', password: 'A'.repeat(30) });
    expect(() => validateAppRole({ username: 'Robert"; DROP TABLE users; --', password: 'A'.repeat(30) })).toThrow(/role name/);
    expect(() => validateAppRole({ username: 'echofs_app', password: "it's a secret phrase" })).toThrow(/printable ASCII/);
    try {
      validateAppRole({ username: 'echofs_app', password: 'short' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('short');
    }
    await expect(readAppRoleSecret('arn:secret', async () => '{"username":"echofs_app","password":"' + 'b'.repeat(32) + '","engine":"postgres"}')).resolves.toEqual({
      username: 'echofs_app',
      password: 'b'.repeat(32),
    });
    await expect(readAppRoleSecret('arn:secret', async () => 'not json')).rejects.toThrow(/not JSON with username and password/);
  });
});
