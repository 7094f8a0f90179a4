/**
 * The response bodies of the API, built in one place. The published EchoFS API
 * (register/login/profile, upload, list, delete, /v1/mode, /v1/hint…) fixes some of these shapes
 * field for field; our own fields are added beside the published ones, never instead of them.
 * Each builder is a small function from a core value to a plain JSON body, typed by the body's
 * schema in shared/wire/responses.ts (z.infer): a field missing, renamed or of another type than
 * the schema declares (and so the OpenAPI document and the clients) is a type error here.
 */
import { BadRequest } from './errors.js';
import type * as W from './wire/responses.js';
import type { AuthUser } from './http.js';
import type { FileInfo, FileListItem, ReplicaSummary, SessionInfo, VersionInfo } from './storage/engine.js';
import type { Mode } from './config.js';

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

// ---------------------------------------------------------------- auth

export type UserBody = W.UserBody;

export function userBody(u: AuthUser): UserBody {
  return { id: u.id, username: u.username, email: u.email, role: u.role };
}

/** POST /api/v1/auth/register and /login: `{success, token, user}` (published). */
export function sessionBody(s: { token: string; user: AuthUser }, message?: string): W.SessionBody {
  return { success: true as const, token: s.token, user: userBody(s.user), ...(message ? { message } : {}) };
}

/** GET /api/v1/auth/profile (published) and /me: `{success, user}`. */
export function profileBody(u: AuthUser): W.ProfileBody {
  return { success: true as const, user: userBody(u) };
}

// ---------------------------------------------------------------- files

/**
 * One file. The published fields are `file_id`, `name`, `size`, `uploaded` (ISO 8601) and `chunks`
 * (list), and `file_id`, `chunks`, `compressed`, `file_size` (upload); the rest are ours.
 */
export function fileBody(f: FileInfo): W.FileBody {
  return {
    file_id: f.fileId,
    name: f.name,
    size: f.size,
    file_size: f.size,
    version: f.version,
    chunks: f.chunks,
    compressed: f.compressed,
    sha256: f.sha256,
    content_type: f.contentType,
    mode: f.mode,
    uploaded: iso(f.uploadedAt),
    created: iso(f.createdAt),
    ...(f.deletedAt ? { deleted: f.deletedAt.toISOString() } : {}),
    ...(f.ack ? { ack: { mode: f.ack.mode, replicas_acked: f.ack.acked.length, acked: f.ack.acked, pending: f.ack.pending, degraded: f.ack.degraded } } : {}),
  };
}

export function replicaSummaryBody(r: ReplicaSummary): W.ReplicaSummaryBody {
  return { chunks: r.chunks, present: r.present, complete: r.complete, under_replicated: r.underReplicated };
}

export function listItemBody(f: FileListItem): W.FileListItemBody {
  return { ...fileBody(f), replicas: replicaSummaryBody(f.replicas) };
}

/** Where a page of the file list ends: the (name, id) of its last file, in list order. */
export interface ListPosition {
  name: string;
  id: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The opaque `next_cursor` of a list page (base64url of the last file's name and id). */
export function encodeListCursor(p: ListPosition): string {
  return Buffer.from(JSON.stringify([p.name, p.id]), 'utf8').toString('base64url');
}

/** Read a `cursor` query parameter back; a 400 that says what to send when it is not one of ours. */
export function decodeListCursor(cursor: string): ListPosition {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || typeof v[1] !== 'string' || !UUID_RE.test(v[1]) || v[0].includes('\u0000')) {
    throw new BadRequest("Field 'cursor' is invalid: pass the next_cursor of the previous page unchanged.", 'invalid_field', { field: 'cursor' });
  }
  return { name: v[0], id: v[1] };
}

/** Most files one page of GET /api/v1/files holds (and the default page size). */
export const MAX_LIST_PAGE = 1000;

/**
 * GET /api/v1/files: `{success, data: [file…]}` — `data` is an array (published). The page's
 * extensions sit beside it: `next_cursor` (null on the last page), `limit` and `count`.
 */
export function fileListBody(items: readonly FileListItem[], page: { nextCursor: string | null; limit: number }): W.FileListBody {
  return { success: true as const, data: items.map(listItemBody), count: items.length, limit: page.limit, next_cursor: page.nextCursor };
}

/** DELETE /api/v1/files/{id}: `{success, message: "File deleted successfully"}` (published). */
export function deletedBody(fileId: string, permanent = false): W.DeletedBody {
  return {
    success: true as const,
    message: 'File deleted successfully',
    file_id: fileId,
    restorable: !permanent,
    hint: permanent ? 'The file and all its versions are deleted for good.' : `The file is in the bin: restore it with POST /api/v1/files/${fileId}/restore.`,
  };
}

export function versionBody(v: VersionInfo): W.VersionBody {
  return { version: v.version, size: v.size, sha256: v.sha256, chunks: v.chunks, content_type: v.contentType, mode: v.mode, uploaded: iso(v.createdAt), current: v.current };
}

export function sessionInfoBody(s: SessionInfo): W.UploadSessionBody {
  return { upload_id: s.uploadId, name: s.name, size: s.size, sha256: s.sha256, chunks: s.chunks, chunk_size: s.chunkSize, missing: s.missing, expires_at: iso(s.expiresAt), committed: s.committed };
}

// ---------------------------------------------------------------- controller

/** GET /v1/mode?object_id=: `{object_id, mode, reason, timestamp}` (published). */
export function modeBody(objectId: string | undefined, d: { mode: Mode; reason: string }, at: Date): W.ModeBody {
  return { object_id: objectId ?? null, mode: d.mode, reason: d.reason, timestamp: at.toISOString() };
}

/** POST /v1/hint: the acknowledgement, with the object's mode now. */
export function hintAck(objectId: string, hint: W.WireHint, mode: Mode): W.HintAck {
  return { success: true as const, status: 'success' as const, object_id: objectId, hint, mode };
}

/** POST /v1/override: the acknowledgement. */
export function overrideAck(mode: Mode, objectId: string | null): W.OverrideAck {
  return { success: true as const, status: 'success' as const, mode, object_id: objectId };
}

/** GET /v1/critical-keys: the always-strong keys (`critical_keys`, as published), with who added each. */
export function criticalKeysBody(keys: readonly { key: string; actor: string; at: number }[]): W.CriticalKeysBody {
  return {
    success: true as const,
    critical_keys: keys.map((k) => k.key),
    count: keys.length,
    items: keys.map((k) => ({ key: k.key, added_by: k.actor, added_at: new Date(k.at).toISOString() })),
  };
}
