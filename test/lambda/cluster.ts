/**
 * The Aurora cluster of a harness run, on a shared PostgreSQL server (DATABASE_URL): what creating
 * the cluster does on AWS, done as the server's superuser. A fresh database owned by the master
 * user (the user of the secret attached to the cluster), who may create roles, as Aurora's master
 * user may (rds_superuser without superuser rights); the functions then connect through the Data
 * API emulator as the users their secrets name.
 *
 * Roles belong to the whole server, and several runs (and test files) share it: every database
 * user a secret names gets the scratch database's suffix (echofs_admin_<suffix>,
 * echofs_app_<suffix>), so no two runs ever create, re-password or grant to the same role. The
 * database and the roles are dropped afterwards.
 */
import pg from 'pg';
import type { EmulatedSecret } from '#emulators/secrets-manager.js';
import { createTestDatabase } from '../helpers/databases.js';

export interface HarnessCluster {
  /** The database's URL, as the superuser (the Data API emulator replaces the user per secret). */
  url: string;
  /** Database users the secrets name, after suffixing (master first). */
  users: string[];
  drop(): Promise<void>;
}

async function asSuperuser(url: string, statements: string[]): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end();
  }
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const quoteLiteral = (text: string) => `'${text.replace(/'/g, "''")}'`;

/** A secret's JSON value, or undefined when it is not a JSON object with a username. */
function userSecret(s: EmulatedSecret): { username: string; password?: unknown } | undefined {
  try {
    const v = JSON.parse(s.value) as { username?: unknown };
    return v && typeof v === 'object' && typeof v.username === 'string' ? (v as { username: string }) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Create the run's database and master user, suffixing the user names in `secrets` in place
 * (before the Secrets Manager emulator serves them).
 */
export async function createHarnessCluster(serverUrl: string, secrets: EmulatedSecret[], masterSecretArn: string | undefined): Promise<HarnessCluster> {
  const db = await createTestDatabase(serverUrl);
  const suffix = new URL(db.url).pathname.slice(1).replace(/^echofs_t_/, '');
  const users: string[] = [];
  try {
    let master: { username: string; password: string } | undefined;
    for (const s of secrets) {
      const v = userSecret(s);
      if (!v) continue;
      v.username = `${v.username}_${suffix}`.slice(0, 63);
      s.value = JSON.stringify(v);
      users.push(v.username);
      if (s.arn === masterSecretArn) master = { username: v.username, password: String(v.password ?? '') };
    }
    if (!master) throw new Error('the template attaches no secret with a username to the catalog cluster');
    users.sort((a, b) => (a === master?.username ? -1 : b === master?.username ? 1 : 0));
    const name = new URL(db.url).pathname.slice(1);
    await asSuperuser(serverUrl, [
      `CREATE ROLE ${quoteIdent(master.username)} WITH LOGIN CREATEROLE NOCREATEDB PASSWORD ${quoteLiteral(master.password)}`,
      `ALTER DATABASE ${quoteIdent(name)} OWNER TO ${quoteIdent(master.username)}`,
    ]);
  } catch (err) {
    await db.drop().catch(() => undefined);
    throw err;
  }
  return {
    url: db.url,
    users,
    async drop() {
      await db.drop();
      // The database held every grant to these roles: they can go now (the app role first, as
      // the master user created it).
      await asSuperuser(serverUrl, [...users].reverse().map((u) => `DROP ROLE IF EXISTS ${quoteIdent(u)}`));
    },
  };
}
