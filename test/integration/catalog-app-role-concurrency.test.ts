/**
 * The runtime role's setup run at once from several databases of one PostgreSQL server
 * (DATABASE_URL; skipped without it), as test runs and parallel test files sharing a server do.
 * Roles belong to the whole server while the setup's advisory lock holds in one database only, so
 * the setups race for the same pg_authid row: every one must succeed, exactly one reports the
 * role created, and the role ends with its data rights in every database.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, type Catalog } from '#shared/catalog/db.js';
import { ensureAppRole, lostRoleRace } from '#shared/catalog/app-role.js';
import { createTestDatabase, type ScratchDatabase } from '../helpers/databases.js';

const serverUrl = process.env.DATABASE_URL;
const DATABASES = 4;

describe.skipIf(!serverUrl)('runtime role set up concurrently from several databases of one server', () => {
  const role = { username: `echofs_app_c_${randomBytes(5).toString('hex')}`, password: randomBytes(24).toString('base64url') };
  const dbs: ScratchDatabase[] = [];
  const catalogs: Catalog[] = [];

  beforeAll(async () => {
    for (let i = 0; i < DATABASES; i++) {
      const db = await createTestDatabase(serverUrl!);
      dbs.push(db);
      catalogs.push(await openCatalog({ databaseUrl: db.url, migrate: true, poolMax: 3 }));
    }
  }, 120_000);

  afterAll(async () => {
    for (const c of catalogs) await c.close().catch(() => undefined);
    for (const db of dbs) await db.drop().catch(() => undefined);
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    try {
      await c.query(`DROP ROLE IF EXISTS ${role.username}`);
    } finally {
      await c.end();
    }
  });

  it('every setup succeeds, the role is created once, and it has its rights (and no more) in every database', async () => {
    // Two setups per database at once: across databases they race for the role's row; within
    // one, the advisory lock orders them.
    const first = await Promise.all([...catalogs, ...catalogs].map((c) => ensureAppRole(c.db, role)));
    expect(first.filter((r) => r.created)).toHaveLength(1);
    // Again, now that the role exists: concurrent re-passwording of one row.
    const again = await Promise.all(catalogs.map((c) => ensureAppRole(c.db, role)));
    expect(again.every((r) => !r.created)).toBe(true);

    for (const db of dbs) {
      const url = new URL(db.url);
      url.username = role.username;
      url.password = role.password;
      const app = new pg.Client({ connectionString: url.toString() });
      await app.connect();
      try {
        expect((await app.query<{ me: string }>('SELECT current_user AS me')).rows[0]?.me).toBe(role.username);
        await app.query('SELECT count(*) FROM users');
        await expect(app.query('CREATE TABLE intruder (id int)')).rejects.toMatchObject({ code: '42501' });
      } finally {
        await app.end();
      }
    }
  }, 120_000);

  it('tells a lost race from other failures, through driver wrappers and Data API messages', () => {
    expect(lostRoleRace(new Error('tuple concurrently updated'))).toBe(true);
    expect(lostRoleRace({ message: 'Failed query', cause: { code: '40P01', message: 'deadlock detected' } })).toBe(true);
    expect(lostRoleRace(new Error('ERROR: tuple concurrently updated; SQLState: XX000'))).toBe(true);
    expect(lostRoleRace(new Error('ERROR: permission denied to create role; SQLState: 42501'))).toBe(false);
    expect(lostRoleRace(undefined)).toBe(false);
  });
});
