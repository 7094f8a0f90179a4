/**
 * The catalog's runtime role: a database user with data rights only (SELECT, INSERT, UPDATE,
 * DELETE on the catalog tables, read-only on the migration ledger), used by every function but the
 * migrate function. It can neither create, alter nor drop anything, so a compromised or buggy
 * runtime function cannot change the schema.
 *
 * The migrate function, connected as the cluster's owner (the only holder of DDL rights), creates
 * or updates the role right after the migrations. Every statement is idempotent and runs behind an
 * advisory lock (the role in one transaction, its rights in a second): running it again changes
 * nothing but the password verifier (re-salted from the same password). Default privileges give the role the same rights on
 * tables and sequences that later migrations create, without a new grant.
 *
 * The password never reaches the server in clear text: the role gets a SCRAM-SHA-256 verifier
 * computed here (RFC 5802, as PostgreSQL stores it), so no statement log can show the password.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { queryRows, type Db, type Tx } from './db.js';

/** Variable naming the runtime role's secret (JSON: username, password); set on the migrate function only. */
export const APP_SECRET_VARIABLE = 'ECHOFS_DB_APP_SECRET_ARN';

export interface AppRoleCredentials {
  username: string;
  password: string;
}

/** A lower-case PostgreSQL identifier that needs no quoting and cannot be a keyword trick. */
const ROLE_NAME_RE = /^[a-z_][a-z0-9_]{0,62}$/;
/** Printable ASCII: SASLprep leaves it unchanged, so the verifier matches what clients compute. */
const PASSWORD_RE = /^[\x21-\x7e]{16,256}$/;
/** Advisory lock key of the role setup ("echorl" in ASCII), distinct from the migrations' key. */
const ROLE_LOCK_KEY = 0x6563686f726c;
/** The migration ledger: the runtime role may read it (to see the catalog is current), never write it. */
const LEDGER_TABLE = 'schema_migrations';

/** Data rights of the runtime role on every table of the catalog schema, now and later. */
export const APP_TABLE_PRIVILEGES = ['SELECT', 'INSERT', 'UPDATE', 'DELETE'] as const;

/** The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (`SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`). */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** Checks a role's credentials as read from its secret; the message never contains the password. */
export function validateAppRole(c: { username?: unknown; password?: unknown }): AppRoleCredentials {
  if (typeof c.username !== 'string' || !ROLE_NAME_RE.test(c.username)) {
    throw new Error('The runtime role name must be 1-63 lower-case letters, digits or underscores, starting with a letter or underscore');
  }
  if (typeof c.password !== 'string' || !PASSWORD_RE.test(c.password)) {
    throw new Error(`The password of role ${c.username} must be 16-256 printable ASCII characters without spaces`);
  }
  return { username: c.username, password: c.password };
}

const ident = (name: string) => sql.raw(`"${name.replace(/"/g, '""')}"`);

/**
 * Whether a failed setup lost a race with another database's setup of the same role: roles belong
 * to the whole server while the advisory lock holds in one database only, so two databases of one
 * server setting up the role at once can collide on its pg_authid row ("tuple concurrently
 * updated", or a deadlock). Looks through driver wrappers (`cause`) and the Data API's message text.
 */
export function lostRoleRace(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    const o = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (o.code === '40P01' || o.code === '40001') return true;
    if (typeof o.message === 'string' && /tuple concurrently updated|deadlock detected|SQLState: 40P01|SQLState: 40001/.test(o.message)) return true;
    e = o.cause;
  }
  return false;
}

/** Attempts of a setup step that loses a race with another database's (lostRoleRace). */
const ROLE_SETUP_ATTEMPTS = 8;

/** Run `step` again, after a jittered backoff, while it loses a race for the role's row. */
async function retryingRace<T>(step: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (attempt >= ROLE_SETUP_ATTEMPTS || !lostRoleRace(err)) throw err;
      const ceiling = Math.min(1000, 25 * 2 ** attempt);
      await new Promise((r) => setTimeout(r, ceiling / 2 + Math.random() * (ceiling / 2)));
    }
  }
}

/**
 * Create the runtime role, or bring an existing one back to exactly its rights, in the current
 * database and schema. Call it as the owner of the catalog tables, after the migrations.
 *
 * Safe to run at once from several databases of one server for the same role (test runs sharing a
 * server): the role itself is created or altered in a short transaction of its own (creating a
 * role another setup has just created alters it instead), and a step that loses the race for the
 * role's row runs again. The rights, which belong to this database, are set in a second
 * transaction; both are idempotent, so a setup interrupted between them is completed by the next.
 */
export async function ensureAppRole(db: Db, credentials: AppRoleCredentials): Promise<{ created: boolean; schema: string }> {
  const { username, password } = validateAppRole(credentials);
  const created = await retryingRace(() => db.transaction((tx: Tx) => upsertRole(tx, username, password)));
  const schema = await retryingRace(() => db.transaction((tx: Tx) => grantRights(tx, username)));
  return { created, schema };
}

/** Create the role or re-password it (and reset its attributes); true when this call created it. */
async function upsertRole(tx: Tx, username: string, password: string): Promise<boolean> {
  const role = ident(username);
  // A verifier is base64 plus '$' and ':', so it is a safe literal.
  const attributes = sql`WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD ${sql.raw(`'${scramVerifier(password)}'`)}`;
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${sql.raw(String(ROLE_LOCK_KEY))})`);
  const exists = (await queryRows(tx, sql`SELECT 1 AS one FROM pg_roles WHERE rolname = ${username}`)).length > 0;
  if (exists) {
    await tx.execute(sql`ALTER ROLE ${role} ${attributes}`);
    return false;
  }
  // Another database's setup may create the role between the look-up and here: this CREATE then
  // fails with duplicate_object or a unique violation on pg_authid, caught in the block's
  // subtransaction, and the role is altered instead. (A DO block takes no parameters: the name is
  // checked by validateAppRole and the verifier is a safe literal.)
  await tx.execute(
    sql`DO $echofs_role$ BEGIN CREATE ROLE ${role} ${attributes}; PERFORM set_config('echofs.role_created', 'yes', true); EXCEPTION WHEN duplicate_object OR unique_violation THEN ALTER ROLE ${role} ${attributes}; END $echofs_role$`,
  );
  const [flag] = await queryRows<{ created: string | null }>(tx, sql`SELECT current_setting('echofs.role_created', true) AS created`);
  return flag?.created === 'yes';
}

/** Exactly the role's data rights in the current database and schema; returns the schema. */
async function grantRights(tx: Tx, username: string): Promise<string> {
  const role = ident(username);
  await tx.execute(sql`SELECT pg_advisory_xact_lock(${sql.raw(String(ROLE_LOCK_KEY))})`);
  const [where] = await queryRows<{ schema: string; database: string }>(tx, sql`SELECT current_schema() AS schema, current_database() AS database`);
  if (!where?.schema || !where.database) throw new Error('No current schema: set a search_path before setting up the runtime role');
  const schema = ident(where.schema);
  await tx.execute(sql`GRANT CONNECT ON DATABASE ${ident(where.database)} TO ${role}`);
  await tx.execute(sql`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
  // No object may be created in the schema by anyone but its owner (PostgreSQL before 15 let
  // every role create in `public`).
  await tx.execute(sql`REVOKE CREATE ON SCHEMA ${schema} FROM PUBLIC`);
  await tx.execute(sql`REVOKE CREATE ON SCHEMA ${schema} FROM ${role}`);
  // Exactly the data rights: whatever else the role was given is taken back first.
  await tx.execute(sql`REVOKE ALL ON ALL TABLES IN SCHEMA ${schema} FROM ${role}`);
  await tx.execute(sql`GRANT ${sql.raw(APP_TABLE_PRIVILEGES.join(', '))} ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
  const ledger = await queryRows(tx, sql`SELECT 1 AS one FROM pg_tables WHERE schemaname = ${where.schema} AND tablename = ${LEDGER_TABLE}`);
  if (ledger.length > 0) await tx.execute(sql`REVOKE INSERT, UPDATE, DELETE ON ${schema}.${ident(LEDGER_TABLE)} FROM ${role}`);
  await tx.execute(sql`REVOKE ALL ON ALL SEQUENCES IN SCHEMA ${schema} FROM ${role}`);
  await tx.execute(sql`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA ${schema} TO ${role}`);
  // Tables and sequences the owner creates later (future migrations) come with the same rights.
  await tx.execute(sql`ALTER DEFAULT PRIVILEGES IN SCHEMA ${schema} GRANT ${sql.raw(APP_TABLE_PRIVILEGES.join(', '))} ON TABLES TO ${role}`);
  await tx.execute(sql`ALTER DEFAULT PRIVILEGES IN SCHEMA ${schema} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ${role}`);
  return where.schema;
}
