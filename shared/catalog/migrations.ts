/**
 * Catalog migrations: ordered, append-only, each applied once. `schema_migrations` records the
 * ids already applied. Everything runs in one transaction behind an advisory lock, so two
 * processes starting at once (two Lambdas, two local runtimes on one server) never race: the
 * second waits, then finds nothing left to do.
 *
 * Statements are plain SQL, one per execute, so the same list runs on PGlite, node-postgres and
 * the RDS Data API (which takes one statement per call). Keep them in step with schema.ts; a test
 * compares the two.
 */
import { sql } from 'drizzle-orm';
import type { Db, Tx } from './db.js';
import { logger } from '../observability.js';

export interface Migration {
  /** Unique, sortable id; never change or reuse one that has shipped. */
  id: string;
  statements: readonly string[];
}

/** Arbitrary constant key for pg_advisory_xact_lock ("echofs" in ASCII). */
const MIGRATION_LOCK_KEY = 0x6563686f6673;

export const MIGRATIONS: readonly Migration[] = [
  {
    id: '0001_catalog',
    statements: [
      `CREATE TABLE users (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        username text NOT NULL,
        email text NOT NULL,
        password_hash text NOT NULL,
        role text NOT NULL DEFAULT 'user',
        token_version integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT users_role_check CHECK (role IN ('user', 'admin')),
        CONSTRAINT users_email_lower_check CHECK (email = lower(email))
      )`,
      `CREATE UNIQUE INDEX users_email_key ON users (email)`,
      `CREATE UNIQUE INDEX users_username_key ON users (lower(username))`,

      `CREATE TABLE files (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        owner_id uuid NOT NULL REFERENCES users (id),
        name text NOT NULL,
        current_version integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
      )`,
      `CREATE UNIQUE INDEX files_owner_name_live_key ON files (owner_id, name) WHERE deleted_at IS NULL`,
      `CREATE INDEX files_owner_idx ON files (owner_id)`,

      `CREATE TABLE file_versions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        file_id uuid NOT NULL REFERENCES files (id),
        version integer NOT NULL,
        size bigint NOT NULL,
        sha256 text NOT NULL,
        chunk_count integer NOT NULL,
        content_type text NOT NULL DEFAULT 'application/octet-stream',
        mode text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        deleted_at timestamptz
      )`,
      `CREATE UNIQUE INDEX file_versions_file_version_key ON file_versions (file_id, version)`,

      `CREATE TABLE version_chunks (
        version_id uuid NOT NULL REFERENCES file_versions (id),
        idx integer NOT NULL,
        chunk_hash text NOT NULL,
        size integer NOT NULL,
        PRIMARY KEY (version_id, idx)
      )`,
      `CREATE INDEX version_chunks_hash_idx ON version_chunks (chunk_hash)`,

      `CREATE TABLE chunks (
        owner_id uuid NOT NULL REFERENCES users (id),
        hash text NOT NULL,
        size integer NOT NULL,
        stored_size integer NOT NULL,
        compressed boolean NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        touched_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (owner_id, hash)
      )`,

      `CREATE TABLE chunk_placements (
        owner_id uuid NOT NULL,
        hash text NOT NULL,
        region text NOT NULL,
        state text NOT NULL,
        pending_since timestamptz,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        claimed_by text,
        claimed_until timestamptz,
        last_error text,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (owner_id, hash, region),
        CONSTRAINT chunk_placements_state_check CHECK (state IN ('present', 'pending', 'missing'))
      )`,
      `CREATE INDEX chunk_placements_backlog_idx ON chunk_placements (state, next_attempt_at)`,

      `CREATE TABLE upload_sessions (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        owner_id uuid NOT NULL REFERENCES users (id),
        name text NOT NULL,
        size bigint NOT NULL,
        sha256 text NOT NULL,
        content_type text NOT NULL DEFAULT 'application/octet-stream',
        chunks jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        committed_at timestamptz
      )`,
      `CREATE INDEX upload_sessions_owner_idx ON upload_sessions (owner_id)`,
      `CREATE INDEX upload_sessions_expires_idx ON upload_sessions (expires_at)`,
    ],
  },
  {
    // Failed sign-ins per account and per client address, shared by every container.
    id: '0002_login_throttle',
    statements: [
      `CREATE TABLE login_throttle (
        key text PRIMARY KEY,
        failures integer NOT NULL DEFAULT 0,
        last_failure_at timestamptz NOT NULL,
        locked_until timestamptz
      )`,
    ],
  },
  {
    // The bytes an owner uses, kept as a running counter (a commit no longer sums every version),
    // backfilled from the current sums; and an upload session's whole-file SHA-256 state, advanced
    // over its chunks in file order as they arrive (any container), so a commit reads nothing back.
    id: '0003_usage_counter_upload_hash',
    statements: [
      `ALTER TABLE users ADD COLUMN used_bytes bigint NOT NULL DEFAULT 0`,
      `UPDATE users u SET used_bytes = coalesce((
        SELECT sum(v.size) FROM file_versions v JOIN files f ON f.id = v.file_id
        WHERE f.owner_id = u.id AND f.deleted_at IS NULL AND v.deleted_at IS NULL), 0)`,
      `ALTER TABLE upload_sessions ADD COLUMN hash_state text`,
      `ALTER TABLE upload_sessions ADD COLUMN hash_next integer NOT NULL DEFAULT 0`,
    ],
  },
  {
    // Idempotency-Key records (shared/idempotency.ts): the first outcome of a keyed write, per
    // owner and key, kept until expires_at (garbage collection removes expired rows; a claim
    // treats them as absent). A row 'running' is held by one request until locked_until.
    id: '0004_idempotency_keys',
    statements: [
      `CREATE TABLE idempotency_keys (
        owner_id uuid NOT NULL,
        key text NOT NULL,
        route text NOT NULL,
        fingerprint text NOT NULL,
        state text NOT NULL,
        token text NOT NULL,
        status integer,
        headers jsonb,
        body text,
        body_base64 boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        locked_until timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (owner_id, key),
        CONSTRAINT idempotency_keys_state_check CHECK (state IN ('running', 'done'))
      )`,
      `CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at)`,
    ],
  },
];

export interface MigrateResult {
  /** Ids applied by this call, in order (empty when the catalog was already current). */
  applied: string[];
}

/** Apply every migration not yet recorded, in order, atomically. Safe to call on every start. */
export async function migrate(db: Db, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  const applied = await db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${sql.raw(String(MIGRATION_LOCK_KEY))})`);
    await tx.execute(
      sql.raw(`CREATE TABLE IF NOT EXISTS schema_migrations (
        id text PRIMARY KEY,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`),
    );
    const result = (await tx.execute(sql`SELECT id FROM schema_migrations`)) as unknown as { rows: { id: string }[] };
    const done = new Set(result.rows.map((r) => r.id));
    const now: string[] = [];
    for (const m of migrations) {
      if (done.has(m.id)) continue;
      await applyOne(tx, m);
      now.push(m.id);
    }
    return now;
  });
  if (applied.length > 0) logger.info('catalog migrated', { applied });
  return { applied };
}

async function applyOne(tx: Tx, m: Migration): Promise<void> {
  for (const statement of m.statements) await tx.execute(sql.raw(statement));
  await tx.execute(sql`INSERT INTO schema_migrations (id) VALUES (${m.id})`);
}
