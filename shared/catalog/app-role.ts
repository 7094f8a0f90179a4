/**
 * The catalog's runtime role: a database user with data rights only (SELECT, INSERT, UPDATE,
 * DELETE on the catalog tables, read-only on the migration ledger), used by every function but the
 * migrate function. It can neither create, alter nor drop anything, so a compromised or buggy
 * runtime function cannot change the schema.
 *
 * The migrate function, connected as the cluster's owner (the only holder of DDL rights), creates
 * or updates the role right after the migrations. Every statement is idempotent and the whole runs
 * in one transaction behind an advisory lock: running it again changes nothing but the password
 * verifier (re-salted from the same password). Default privileges give the role the same rights on
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
 * Create the runtime role, or bring an existing one back to exactly its rights, in the current
 * database and schema. Call it as the owner of the catalog tables, after the migrations.
 */
export async function ensureAppRole(db: Db, credentials: AppRoleCredentials): Promise<{ created: boolean; schema: string }> {
  const { username, password } = validateAppRole(credentials);
  const role = ident(username);
  // A verifier is base64 plus '$' and ':', so it is a safe literal.
  const verifier = sql.raw(`'${scramVerifier(password)}'`);
  return db.transaction(async (tx: Tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${sql.raw(String(ROLE_LOCK_KEY))})`);
    const [where] = await queryRows<{ schema: string; database: string }>(tx, sql`SELECT current_schema() AS schema, current_database() AS database`);
    if (!where?.schema || !where.database) throw new Error('No current schema: set a search_path before setting up the runtime role');
    const schema = ident(where.schema);
    const exists = (await queryRows(tx, sql`SELECT 1 AS one FROM pg_roles WHERE rolname = ${username}`)).length > 0;
    if (exists) {
      await tx.execute(sql`ALTER ROLE ${role} WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD ${verifier}`);
    } else {
      await tx.execute(sql`CREATE ROLE ${role} WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD ${verifier}`);
    }
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
    return { created: !exists, schema: where.schema };
  });
}
