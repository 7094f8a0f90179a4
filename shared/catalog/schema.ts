/**
 * The catalog: the single source of truth for ownership, versions and where each chunk lives.
 * Migrations (migrations.ts) create exactly these tables; keep the two in step.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import type { Mode } from '../config.js';

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    username: text('username').notNull(),
    /** Stored lower-cased: emails are case-insensitive. */
    email: text('email').notNull(),
    passwordHash: text('password_hash').notNull(),
    role: text('role').$type<'user' | 'admin'>().notNull().default('user'),
    /** Bumped on password change: tokens carrying an older version stop working. */
    tokenVersion: integer('token_version').notNull().default(0),
    /** Bytes of every kept version of the user's live files (a running counter, see commits). */
    usedBytes: bigint('used_bytes', { mode: 'number' }).notNull().default(0),
    createdAt: ts('created_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('users_email_key').on(t.email), uniqueIndex('users_username_key').on(sql`lower(${t.username})`)],
);

export const files = pgTable(
  'files',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id),
    name: text('name').notNull(),
    /** Number of the current version (1-based); versions are immutable. */
    currentVersion: integer('current_version').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    /** Soft delete: set while the file is in the bin (restorable). */
    deletedAt: ts('deleted_at'),
  },
  (t) => [
    uniqueIndex('files_owner_name_live_key').on(t.ownerId, t.name).where(sql`deleted_at is null`),
    index('files_owner_idx').on(t.ownerId),
  ],
);

export const fileVersions = pgTable(
  'file_versions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    fileId: uuid('file_id')
      .notNull()
      .references(() => files.id),
    version: integer('version').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    sha256: text('sha256').notNull(),
    chunkCount: integer('chunk_count').notNull(),
    contentType: text('content_type').notNull().default('application/octet-stream'),
    /** The consistency mode the write was acknowledged under (C, H or A). */
    mode: text('mode').$type<Mode>().notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    deletedAt: ts('deleted_at'),
  },
  (t) => [uniqueIndex('file_versions_file_version_key').on(t.fileId, t.version)],
);

/** The ordered chunk list of a version (its manifest). */
export const versionChunks = pgTable(
  'version_chunks',
  {
    versionId: uuid('version_id')
      .notNull()
      .references(() => fileVersions.id),
    idx: integer('idx').notNull(),
    chunkHash: text('chunk_hash').notNull(),
    size: integer('size').notNull(),
  },
  (t) => [primaryKey({ columns: [t.versionId, t.idx] }), index('version_chunks_hash_idx').on(t.chunkHash)],
);

/** A chunk, addressed by the SHA-256 of its plaintext, scoped to its owner. */
export const chunks = pgTable(
  'chunks',
  {
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id),
    hash: text('hash').notNull(),
    size: integer('size').notNull(),
    storedSize: integer('stored_size').notNull(),
    compressed: boolean('compressed').notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    /** Bumped whenever an upload session or version references the chunk (GC grace). */
    touchedAt: ts('touched_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.ownerId, t.hash] })],
);

export type PlacementState = 'present' | 'pending' | 'missing';

/** One row per chunk and region. Pending rows are the replication backlog. */
export const chunkPlacements = pgTable(
  'chunk_placements',
  {
    ownerId: uuid('owner_id').notNull(),
    hash: text('hash').notNull(),
    region: text('region').notNull(),
    state: text('state').$type<PlacementState>().notNull(),
    /** When the row became pending (lag = now - oldest pending). */
    pendingSince: ts('pending_since'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: ts('next_attempt_at'),
    claimedBy: text('claimed_by'),
    claimedUntil: ts('claimed_until'),
    lastError: text('last_error'),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.ownerId, t.hash, t.region] }),
    index('chunk_placements_backlog_idx').on(t.state, t.nextAttemptAt),
  ],
);

export const uploadSessions = pgTable(
  'upload_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id),
    name: text('name').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    sha256: text('sha256').notNull(),
    contentType: text('content_type').notNull().default('application/octet-stream'),
    /** [{hash, size}] in file order */
    chunks: jsonb('chunks').$type<{ hash: string; size: number }[]>().notNull(),
    createdAt: ts('created_at').notNull().defaultNow(),
    expiresAt: ts('expires_at').notNull(),
    committedAt: ts('committed_at'),
    /** Saved SHA-256 state over chunks [0, hash_next) in file order (base64); null before the first. */
    hashState: text('hash_state'),
    hashNext: integer('hash_next').notNull().default(0),
  },
  (t) => [index('upload_sessions_owner_idx').on(t.ownerId), index('upload_sessions_expires_idx').on(t.expiresAt)],
);

/** Failed sign-ins by key (`account:<email>`, `address:<ip>`): shared by every container (shared/auth/throttle.ts). */
export const loginThrottle = pgTable('login_throttle', {
  key: text('key').primaryKey(),
  failures: integer('failures').notNull().default(0),
  lastFailureAt: ts('last_failure_at').notNull(),
  lockedUntil: ts('locked_until'),
});

/** The first outcome of a keyed write (Idempotency-Key), per owner and key: shared/idempotency.ts. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    ownerId: uuid('owner_id').notNull(),
    key: text('key').notNull(),
    /** The route key the key was first used on ("POST /api/v1/uploads"). */
    route: text('route').notNull(),
    /** SHA-256 of the request: route, path parameters, query, If-Match and body. */
    fingerprint: text('fingerprint').notNull(),
    state: text('state').$type<'running' | 'done'>().notNull(),
    /** Which claim holds a running row (a takeover after locked_until gets a new one). */
    token: text('token').notNull(),
    status: integer('status'),
    headers: jsonb('headers').$type<Record<string, string>>(),
    body: text('body'),
    bodyBase64: boolean('body_base64').notNull().default(false),
    createdAt: ts('created_at').notNull().defaultNow(),
    lockedUntil: ts('locked_until').notNull(),
    expiresAt: ts('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.ownerId, t.key] }), index('idempotency_keys_expires_idx').on(t.expiresAt)],
);

export const schema = { users, files, fileVersions, versionChunks, chunks, chunkPlacements, uploadSessions, loginThrottle, idempotencyKeys };
