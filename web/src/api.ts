/**
 * The one typed client of the EchoFS HTTP API. Every request and every response shape the web app
 * relies on lives here: components never call fetch themselves. Responses are normalised into the
 * types below, so a field renamed on the server is fixed in one place.
 */
import { DOWNLOAD_TOKEN_HEADER, manifestPath } from '../../shared/downloads.js';
import type { Mode } from './format.js';
import type { FaultSettingsBody, FileListBody, ScoreParts, UserBody, WireHint, WireRole } from '../../shared/wire/responses.js';
import type { z } from 'zod';
import type { requests } from '../../shared/wire/requests.js';

/** Request bodies as the server's schemas declare them (types only: no schema code enters the bundle). */
type RequestBody<K extends keyof typeof requests> = (typeof requests)[K] extends { body: infer S extends z.ZodType } ? z.input<S> : never;
export type RenameRequest = RequestBody<'POST /api/v1/files/{id}/rename'>;
export type DownloadLinkRequest = RequestBody<'POST /api/v1/files/{id}/download-link'>;
export type ChangePasswordRequest = RequestBody<'POST /api/v1/auth/password'>;

// ---------------------------------------------------------------------------------------------
// Errors

export class ApiError extends Error {
  constructor(
    /** HTTP status; 0 when the server could not be reached. */
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: { requestId?: string; retryAfterMs?: number; field?: string } = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Worth retrying later: the network, a timeout, throttling or a temporarily unavailable server. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500;
  }
}

export function isAbort(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: string }).name === 'AbortError';
}

/** A sentence to show a person for any error thrown by the client. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (isAbort(err)) return 'Cancelled.';
  // Anything else is a programming or browser error: its text is not for people.
  return 'Something went wrong. Try again, or reload the page.';
}

/**
 * The sentence for an error code: a fixed text, or — where the server's 4xx text carries the
 * specifics a person needs (the name that is taken, the field and the rule it broke, the sizes) —
 * the server's text, with a fixed text when there is none. A 5xx never shows the server's own text
 * (it can carry internal detail); every 5xx code has a fixed text here.
 */
type CodeMessage = string | { server: true; fallback: string };
const server = (fallback: string): CodeMessage => ({ server: true, fallback });

/**
 * Every error code the web app can receive: the server's (test/web/error-codes.test.ts checks this
 * map against the codes the server's source raises) and the client's own.
 */
export const CODE_MESSAGES: Record<string, CodeMessage> = {
  // generic codes of the error classes
  bad_request: server('The request was not accepted.'),
  unauthorized: server('Please sign in.'),
  forbidden: 'You do not have permission to do that.',
  not_found: 'Not found: it may have been deleted or moved.',
  method_not_allowed: 'The server does not allow that action here. Reload the page and try again.',
  conflict: server('That conflicts with something that already exists.'),
  precondition_failed: 'The file changed in the meantime. Reload and try again.',
  payload_too_large: server('That is too large.'),
  range_not_satisfiable: 'That part of the file does not exist (the file may have changed). Download it again.',
  unavailable: 'The service is temporarily unavailable. Try again shortly.',
  internal_error: 'The server could not complete this request. Try again shortly.',
  starting: 'EchoFS is starting. Try again in a few seconds.',
  catalog_unavailable: 'The file catalog cannot be reached right now. Try again shortly.',
  request_timeout: 'The server ran out of time before saving anything. Try again.',
  idempotency_in_progress: 'The same request is still being processed. Wait a moment and try again.',
  idempotency_key_reused: server('That retry does not match the original request.'),
  // requests
  invalid_field: server('A field is not valid.'),
  invalid_json: 'The request could not be read. Reload the page and try again.',
  invalid_path: 'That address is not valid.',
  invalid_content_type: 'The upload was not sent as a file. Try again.',
  invalid_multipart: 'The upload arrived incomplete. Try again.',
  missing_file: 'No file was sent. Choose a file and try again.',
  invalid_if_match: 'The file version sent was not valid. Reload and try again.',
  // accounts
  invalid_credentials: 'Wrong email or password.',
  invalid_current_password: 'Your current password is not right.',
  invalid_token: 'Your session is no longer valid. Please sign in again.',
  invalid_link: 'This download link has expired or is no longer valid. Start the download again.',
  link_mismatch: 'This download link is for another file or version. Start the download again.',
  email_taken: 'An account with this email exists already. Sign in instead, or use another email.',
  username_taken: 'This username is taken. Choose another one.',
  user_not_found: 'This account no longer exists.',
  too_many_attempts: server('Too many failed sign-ins. Wait a little, then try again.'),
  not_admin_address: 'This account is not on the administrators’ list.',
  admin_token_required: 'An administrator token is needed for this.',
  admin_token_invalid: 'The administrator token is not right.',
  admin_token_not_configured: 'No administrator token is set up on this server.',
  admin_token_unavailable: 'The administrator token cannot be checked right now. Try again shortly.',
  // files
  file_not_found: 'This file no longer exists. It may have been deleted elsewhere; refresh the list.',
  version_not_found: 'This version no longer exists. Refresh the versions.',
  name_taken: server('A file with this name exists already. Choose another name.'),
  invalid_name: server('This name cannot be used for a file.'),
  not_deleted: server('This file is not in the trash.'),
  already_current: 'This version is the current one already.',
  quota_exceeded: server('Your storage is full. Delete files you no longer need (files in the trash do not count) and try again.'),
  file_too_large: server('This file is larger than the server accepts.'),
  version_mismatch: 'The file changed while you were working (another upload or restore). Refresh and try again.',
  response_too_large: 'This download is too large for one response; try again (it will come in parts).',
  download_too_large: 'This download is too large for one response; try again (it will come in parts).',
  critical_key_not_found: 'That critical key does not exist (any more).',
  override_not_found: 'There is no override to clear.',
  not_implemented: 'The server does not support that yet.',
  // uploads in chunks
  upload_not_found: 'This upload is no longer known to the server. Start it again.',
  upload_committed: 'This upload was finished already.',
  upload_expired: 'This upload took too long and expired. Start it again.',
  invalid_chunks: server('The upload’s parts were not valid. Start it again.'),
  invalid_size: server('The upload’s size was not valid. Start it again.'),
  invalid_sha256: server('The upload’s checksum was not valid. Start it again.'),
  chunk_not_declared: 'A part was sent that the upload did not announce. Start it again.',
  chunk_size_mismatch: 'A part arrived with the wrong size. Try again.',
  chunk_too_large: 'A part of the upload was too large. Start it again.',
  chunks_missing: 'Some parts of the upload have not arrived yet. Resume the upload.',
  hash_mismatch: 'A part of the upload arrived damaged. Resume the upload.',
  sha256_mismatch: 'The file arrived damaged (its checksum differs). Upload it again.',
  // storage
  replicas_unavailable:
    'Not enough storage regions are reachable to save this safely, so nothing was saved. This file (or its folder) requires strong consistency; try again when the regions recover.',
  chunk_unavailable: 'Part of this file is not reachable in any region right now. Try again in a minute.',
  // the client's own
  network_error: 'Cannot reach the EchoFS server. Check your connection and try again.',
  invalid_response: 'The server sent a response the app cannot read. Reload the page.',
  chunk_fetch_failed: server('Part of the file could not be fetched. Try again.'),
  corrupt_chunk: server('Part of the file arrived damaged. Try again.'),
  save_failed: server('The file could not be written where it is being saved (the disk may be full). Nothing was kept.'),
};

/**
 * The map's own sentence for a code (for a code whose 4xx text comes from the server, the fixed
 * sentence beside it), without the server's figures: what a person reads first. Undefined for a
 * code the map does not know.
 */
export function codeMessage(code: string | undefined): string | undefined {
  const m = code !== undefined && Object.prototype.hasOwnProperty.call(CODE_MESSAGES, code) ? CODE_MESSAGES[code] : undefined;
  return typeof m === 'string' ? m : m?.fallback;
}

/** The sentence to show for an API error: by code (4xx: the server's text where it is specific), then by status. */
export function friendlyApiMessage(status: number, code: string, serverMessage: string | undefined): string {
  const byCode = Object.prototype.hasOwnProperty.call(CODE_MESSAGES, code) ? CODE_MESSAGES[code] : undefined;
  if (typeof byCode === 'string') return byCode;
  if (byCode) return status < 500 && serverMessage ? serverMessage : byCode.fallback;
  if (status >= 400 && status < 500 && serverMessage) return serverMessage;
  return STATUS_MESSAGES[status] ?? (status >= 500 ? 'The server could not complete this request. Try again shortly.' : `Request failed (HTTP ${status}).`);
}

const STATUS_MESSAGES: Record<number, string> = {
  400: 'The request was not accepted.',
  401: 'Please sign in.',
  403: 'You do not have permission to do that.',
  404: 'Not found.',
  409: 'That conflicts with something that already exists.',
  412: 'The file changed in the meantime.',
  413: 'That is too large.',
  429: 'Too many requests: slow down a little.',
  503: 'The service is temporarily unavailable. Try again shortly.',
};

// ---------------------------------------------------------------------------------------------
// Types

// The server's own shapes come from the wire schema (shared/wire/responses.ts), as types only:
// no schema code enters the bundle. The camel-case types below are this client's normalised views.
export type Role = WireRole;

export type User = UserBody;

export interface Session {
  token: string;
  user: User;
}

export interface ReplicaSummary {
  /** Chunks of the current version. */
  chunks: number;
  /** Region → chunks of the current version present there. */
  present: Record<string, number>;
  /** Regions holding every chunk. */
  complete: string[];
  /** Chunks with fewer copies than a majority of replicas. */
  underReplicated: number;
}

export interface FileSummary {
  id: string;
  name: string;
  size: number;
  uploadedAt: string;
  version: number;
  chunks: number;
  replicas?: ReplicaSummary;
  mode?: Mode;
}

export interface FilePage {
  items: FileSummary[];
  /** null on the last page. */
  nextCursor: string | null;
  /** The bin's listing only: seconds a file stays in the bin before it is deleted for good (0: until deleted forever). */
  retentionSeconds?: FileListBody['trash_retention_seconds'];
}

export interface FileVersion {
  version: number;
  size: number;
  sha256: string;
  createdAt: string;
  mode?: Mode;
  current: boolean;
}

/** One chunk of a manifest: where it sits in the file, and a presigned URL of a replica holding it. */
export interface ManifestChunk {
  index: number;
  hash: string;
  /** Plaintext bytes. */
  size: number;
  offset: number;
  compressed: boolean;
  region?: string;
  /** Presigned GET of the stored chunk (a 1-byte codec header, then the bytes); null when no replica holding it is reachable. */
  url: string | null;
}

export interface Manifest {
  fileId: string;
  name: string;
  size: number;
  version: number;
  sha256: string;
  contentType: string;
  /** How long the URLs stay valid, in seconds. */
  expiresIn: number;
  chunks: ManifestChunk[];
}

/** An open download response: its body not read yet. */
export interface DownloadResponse {
  body: ReadableStream<Uint8Array> | null;
  filename?: string;
  /** Content-Length, when the server sent one. */
  size?: number;
  /** The version's SHA-256 (the ETag is "<sha256>.<version>"). */
  sha256?: string;
  contentType?: string;
}

export interface UploadSession {
  uploadId: string;
  missing: string[];
}

export type { ScoreParts };

export interface RegionHealth {
  region: string;
  reachable: boolean;
  latencyMs?: number;
  p95Ms?: number;
  errorRate?: number;
  consecutiveFailures?: number;
  lastOkAt?: string;
  lastError?: string;
  /** Operations the latency and error rate were taken over. */
  windowOps?: number;
}

export interface Transition {
  at: string;
  from?: Mode;
  to: Mode;
  reason: string;
  score?: number;
}

export interface ControllerSample {
  t: number;
  score: number;
  proposed?: Mode;
  emergency: boolean;
}

export interface ControllerStatus {
  mode: Mode;
  /** Why the mode in force holds, stored with the mode by the decision that set or kept it. */
  reason: string;
  /** null until the first sample. */
  score: number | null;
  /** Weighted contributions to the score (the penalty is negative). */
  parts: ScoreParts;
  /** The raw inputs, each in [0, 1]. */
  inputs: ScoreParts;
  thresholds: { available: number; strong: number };
  samples: ControllerSample[];
  regions: RegionHealth[];
  backlog: number;
  missing: number;
  lagMs: number;
  globalOverride?: Mode;
  objectOverrides: number;
  criticalKeys: number;
  changedAt?: string;
  transitions: Transition[];
  at: string;
  /** The score's weights as the server is configured; absent from an older server. */
  weights?: ScoreParts;
  /** Replica figures are over each replica's last this-many operations. */
  healthWindowOps?: number;
  /** The per-object overrides, by object id. */
  overrideList: { objectId: string; mode: Mode; actor: string; at: string }[];
  /** The saved hints, by object id. */
  hints: { objectId: string; hint: Exclude<Hint, 'none'> }[];
  /** The last sample was an emergency (a majority of replicas unreachable). */
  emergency: boolean;
}

/** One controller sample of the history (GET /v1/history). */
export interface HistoryPoint {
  t: number;
  score: number;
  mode: Mode;
  proposed: Mode;
  emergency: boolean;
  parts: ScoreParts;
}

export type TimelineEventKind = 'mode_change' | 'override_set' | 'override_cleared' | 'critical_key_added' | 'critical_key_removed' | 'hint_set' | 'fault_injected' | 'fault_healed';

/** A marker of the timeline: a mode change or an operator action. */
export interface TimelineEvent {
  id: string;
  t: number;
  kind: TimelineEventKind;
  actor: string;
  reason: string;
  from?: Mode;
  to?: Mode;
  objectId?: string;
  region?: string;
  emergency?: boolean;
}

export interface ControllerHistory {
  from: number;
  to: number;
  /** 0 when every sample is there; else samples were reduced to buckets this wide. */
  bucketMs: number;
  samples: HistoryPoint[];
  events: TimelineEvent[];
  truncated: boolean;
}

export interface AuditEntry {
  id: string;
  at: string;
  action: string;
  actor: string;
  from?: Mode;
  to?: Mode;
  score?: number;
  reason: string;
  objectId?: string;
}

export type Hint = WireHint;

export interface CriticalKey {
  key: string;
  addedBy?: string;
  addedAt?: string;
}

export type FaultMode = FaultSettingsBody['state'];

export interface RegionFault {
  region: string;
  state: FaultMode;
  latencyMs: number;
  jitterMs: number;
  loss: number;
}

export interface ModeAnswer {
  objectId?: string;
  /** The object's saved hint, when the server reports it. */
  hint?: Hint;
  mode: Mode;
  reason: string;
}

// ---------------------------------------------------------------------------------------------
// Tolerant readers (the body is untrusted JSON)

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown): Json {
  return isObj(v) ? v : {};
}

/** The payload of a success body: {data: …} when present, else the body itself. */
function payload(body: unknown): Json {
  const b = obj(body);
  return isObj(b.data) ? b.data : b;
}

function pick(o: Json, ...keys: string[]): unknown {
  for (const k of keys) if (o[k] !== undefined && o[k] !== null) return o[k];
  return undefined;
}

function num(o: Json, ...keys: string[]): number | undefined {
  const v = pick(o, ...keys);
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

function str(o: Json, ...keys: string[]): string | undefined {
  const v = pick(o, ...keys);
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

function bool(o: Json, ...keys: string[]): boolean | undefined {
  const v = pick(o, ...keys);
  return typeof v === 'boolean' ? v : undefined;
}

function list(body: unknown, ...keys: string[]): unknown[] {
  if (Array.isArray(body)) return body;
  const b = obj(body);
  for (const src of [b, obj(b.data)]) {
    for (const k of keys) if (Array.isArray(src[k])) return src[k] as unknown[];
  }
  if (Array.isArray(b.data)) return b.data;
  return [];
}

function time(o: Json, ...keys: string[]): string {
  const v = pick(o, ...keys);
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return new Date(v < 1e12 ? v * 1000 : v).toISOString();
  return '';
}

function mode(v: unknown): Mode | undefined {
  if (v === 'C' || v === 'H' || v === 'A') return v;
  if (typeof v === 'string') {
    const m = v.toLowerCase();
    if (m === 'strong') return 'C';
    if (m === 'hybrid') return 'H';
    if (m === 'available') return 'A';
  }
  return undefined;
}

export function toUser(v: unknown): User {
  const u = obj(v);
  return {
    id: str(u, 'id', 'user_id') ?? '',
    username: str(u, 'username', 'name') ?? '',
    email: str(u, 'email') ?? '',
    role: u.role === 'admin' ? 'admin' : 'user',
  };
}

export function toReplicaSummary(v: unknown): ReplicaSummary | undefined {
  if (!isObj(v)) return undefined;
  const present: Record<string, number> = {};
  if (isObj(v.present)) for (const [r, n] of Object.entries(v.present)) if (typeof n === 'number') present[r] = n;
  const complete = Array.isArray(v.complete) ? v.complete.filter((r): r is string => typeof r === 'string') : [];
  return {
    chunks: num(v, 'chunks') ?? 0,
    present,
    complete,
    underReplicated: num(v, 'under_replicated', 'underReplicated') ?? 0,
  };
}

export function toFileSummary(v: unknown): FileSummary {
  const f = obj(v);
  const m = mode(pick(f, 'mode'));
  const replicas = toReplicaSummary(pick(f, 'replicas', 'replica_summary', 'replication'));
  return {
    id: str(f, 'file_id', 'id') ?? '',
    name: str(f, 'name', 'filename') ?? '(unnamed)',
    size: num(f, 'size', 'file_size') ?? 0,
    uploadedAt: time(f, 'uploaded', 'uploaded_at', 'updated_at', 'created_at'),
    version: num(f, 'version', 'current_version') ?? 1,
    chunks: num(f, 'chunks', 'chunk_count') ?? 0,
    ...(replicas ? { replicas } : {}),
    ...(m ? { mode: m } : {}),
  };
}

export function toFileVersion(v: unknown, current?: number): FileVersion {
  const o = obj(v);
  const version = num(o, 'version') ?? 0;
  const m = mode(pick(o, 'mode'));
  return {
    version,
    size: num(o, 'size', 'file_size') ?? 0,
    sha256: str(o, 'sha256', 'hash') ?? '',
    createdAt: time(o, 'created_at', 'createdAt', 'uploaded', 'uploaded_at'),
    current: bool(o, 'current', 'is_current') ?? (current !== undefined && version === current),
    ...(m ? { mode: m } : {}),
  };
}

export function toUploadSession(v: unknown): UploadSession {
  const p = payload(v);
  return {
    uploadId: str(p, 'upload_id', 'uploadId', 'id') ?? '',
    missing: (Array.isArray(p.missing) ? p.missing : []).filter((h): h is string => typeof h === 'string'),
  };
}

export function toManifest(v: unknown): Manifest {
  const p = payload(v);
  const chunks = (Array.isArray(p.chunks) ? p.chunks : []).map((c): ManifestChunk => {
    const o = obj(c);
    const url = str(o, 'url');
    const region = str(o, 'region');
    return {
      index: num(o, 'index') ?? -1,
      hash: str(o, 'hash') ?? '',
      size: num(o, 'size') ?? -1,
      offset: num(o, 'offset') ?? -1,
      compressed: bool(o, 'compressed') ?? false,
      url: url ?? null,
      ...(region ? { region } : {}),
    };
  });
  return {
    fileId: str(p, 'file_id', 'id') ?? '',
    name: str(p, 'name') ?? '',
    size: num(p, 'size', 'file_size') ?? 0,
    version: num(p, 'version') ?? 0,
    sha256: str(p, 'sha256') ?? '',
    contentType: str(p, 'content_type') ?? 'application/octet-stream',
    expiresIn: num(p, 'expires_in') ?? 0,
    chunks,
  };
}

const PART_KEYS: Record<keyof ScoreParts, string[]> = {
  partition: ['partition', 'partition_risk', 'partitionRisk'],
  lag: ['lag', 'replication_lag', 'replicationLag'],
  writes: ['writes', 'write_rate', 'writeRate'],
  hint: ['hint', 'user_hint', 'userHint'],
  penalty: ['penalty', 'recent_change', 'recent_change_penalty', 'recentChangePenalty', 'change_penalty'],
};

export function toScoreParts(v: unknown): ScoreParts {
  const o = obj(v);
  const out = { partition: 0, lag: 0, writes: 0, hint: 0, penalty: 0 };
  for (const key of Object.keys(PART_KEYS) as (keyof ScoreParts)[]) out[key] = num(o, ...PART_KEYS[key]) ?? 0;
  return out;
}

export function toRegionHealth(v: unknown, regionKey?: string): RegionHealth {
  const o = obj(v);
  const reachable = bool(o, 'reachable', 'healthy', 'up');
  const state = str(o, 'state', 'status');
  const latencyMs = num(o, 'latency_ewma_ms', 'latency_ms', 'latencyMs', 'ewma_ms', 'latency_p50_ms');
  const p95Ms = num(o, 'latency_p95_ms', 'p95_ms');
  const errorRate = num(o, 'error_rate', 'errorRate');
  const consecutiveFailures = num(o, 'consecutive_failures');
  const lastOkAt = time(o, 'last_ok_at');
  const lastError = str(o, 'last_error');
  const windowOps = num(o, 'window_operations');
  return {
    region: str(o, 'region', 'name') ?? regionKey ?? '?',
    reachable: reachable ?? (state ? state === 'reachable' || state === 'up' || state === 'healthy' : false),
    ...(latencyMs !== undefined ? { latencyMs } : {}),
    ...(p95Ms !== undefined ? { p95Ms } : {}),
    ...(errorRate !== undefined ? { errorRate } : {}),
    ...(consecutiveFailures !== undefined ? { consecutiveFailures } : {}),
    ...(lastOkAt ? { lastOkAt } : {}),
    ...(lastError ? { lastError } : {}),
    ...(windowOps !== undefined ? { windowOps } : {}),
  };
}

const EVENT_KINDS: readonly TimelineEventKind[] = ['mode_change', 'override_set', 'override_cleared', 'critical_key_added', 'critical_key_removed', 'hint_set', 'fault_injected', 'fault_healed'];

export function toControllerHistory(v: unknown): ControllerHistory {
  const p = payload(v);
  const samples: HistoryPoint[] = (Array.isArray(p.samples) ? p.samples : []).flatMap((x) => {
    const o = obj(x);
    const t = num(o, 'at', 't');
    const score = num(o, 'score');
    const m = mode(o.mode);
    if (t === undefined || score === undefined || !m) return [];
    return [{ t, score, mode: m, proposed: mode(o.proposed) ?? m, emergency: o.emergency === true, parts: toScoreParts(o.parts) }];
  });
  const events: TimelineEvent[] = (Array.isArray(p.events) ? p.events : []).flatMap((x) => {
    const o = obj(x);
    const t = num(o, 'at', 't');
    const kind = EVENT_KINDS.find((k) => k === o.kind);
    if (t === undefined || !kind) return [];
    const from = mode(o.from);
    const to = mode(o.to);
    const objectId = str(o, 'object_id');
    const region = str(o, 'region');
    return [{ id: str(o, 'id') ?? `${kind}-${t}`, t, kind, actor: str(o, 'actor') ?? '', reason: str(o, 'reason') ?? '', ...(from ? { from } : {}), ...(to ? { to } : {}), ...(objectId ? { objectId } : {}), ...(region ? { region } : {}), ...(o.emergency === true ? { emergency: true } : {}) }];
  });
  const from = Date.parse(str(p, 'from') ?? '');
  const to = Date.parse(str(p, 'to') ?? '');
  return { from: Number.isFinite(from) ? from : 0, to: Number.isFinite(to) ? to : 0, bucketMs: num(p, 'bucket_ms') ?? 0, samples, events, truncated: p.truncated === true };
}

export function toTransition(v: unknown): Transition {
  const o = obj(v);
  const from = mode(pick(o, 'from', 'old_mode', 'oldMode', 'previous'));
  const score = num(o, 'score');
  return {
    at: time(o, 'at', 'time', 'timestamp', 'ts'),
    to: mode(pick(o, 'to', 'new_mode', 'newMode', 'mode')) ?? 'C',
    reason: str(o, 'reason') ?? '',
    ...(from ? { from } : {}),
    ...(score !== undefined ? { score } : {}),
  };
}

export function toControllerStatus(v: unknown): ControllerStatus {
  const p = payload(v);
  const replicasRaw = pick(p, 'replicas', 'regions');
  let regions: RegionHealth[] = [];
  if (Array.isArray(replicasRaw)) regions = replicasRaw.map((r) => toRegionHealth(r));
  else if (isObj(replicasRaw)) regions = Object.entries(replicasRaw).map(([k, r]) => toRegionHealth(r, k));
  const backlogRaw = pick(p, 'backlog');
  const backlogObj = obj(backlogRaw);
  const th = obj(p.thresholds);
  const transitions = (Array.isArray(p.transitions) ? p.transitions : []).map(toTransition);
  const samples: ControllerSample[] = (Array.isArray(p.samples) ? p.samples : []).flatMap((x) => {
    const o = obj(x);
    const t = num(o, 'at', 't');
    const score = num(o, 'score');
    if (t === undefined || score === undefined) return [];
    const proposed = mode(o.proposed);
    return [{ t, score, emergency: o.emergency === true, ...(proposed ? { proposed } : {}) }];
  });
  const globalOverride = mode(isObj(p.global_override) ? p.global_override.mode : p.global_override);
  const changedAt = time(p, 'changed_at');
  const current = mode(pick(p, 'mode')) ?? 'C';
  return {
    mode: current,
    // A server without the field: the newest transition's reason, only if it led to the mode shown.
    reason: str(p, 'reason') ?? (transitions[0]?.to === current ? transitions[0].reason : ''),
    score: num(p, 'score') ?? null,
    parts: toScoreParts(p.parts),
    inputs: toScoreParts(p.inputs),
    thresholds: { available: num(th, 'available_above') ?? 0.6, strong: num(th, 'strong_below') ?? 0.3 },
    samples,
    regions,
    backlog: (typeof backlogRaw === 'number' ? backlogRaw : num(backlogObj, 'pending')) ?? 0,
    missing: num(backlogObj, 'missing') ?? 0,
    lagMs: num(p, 'replication_lag_ms', 'lag_ms') ?? num(backlogObj, 'lag_ms') ?? 0,
    objectOverrides: num(p, 'object_overrides') ?? 0,
    criticalKeys: num(p, 'critical_keys') ?? 0,
    transitions,
    at: time(p, 'timestamp', 'updated_at') || new Date().toISOString(),
    ...(isObj(p.weights) ? { weights: toScoreParts(p.weights) } : {}),
    ...(num(obj(p.health_window), 'operations') !== undefined ? { healthWindowOps: num(obj(p.health_window), 'operations') } : {}),
    overrideList: (Array.isArray(p.object_override_list) ? p.object_override_list : []).flatMap((x) => {
      const o = obj(x);
      const m = mode(o.mode);
      const objectId = str(o, 'object_id');
      return m && objectId ? [{ objectId, mode: m, actor: str(o, 'actor') ?? '', at: time(o, 'at') }] : [];
    }),
    hints: (Array.isArray(p.hints) ? p.hints : []).flatMap((x) => {
      const o = obj(x);
      const objectId = str(o, 'object_id');
      return objectId && (o.hint === 'strong' || o.hint === 'available') ? [{ objectId, hint: o.hint }] : [];
    }),
    emergency: p.emergency === true || samples.at(-1)?.emergency === true,
    ...(globalOverride ? { globalOverride } : {}),
    ...(changedAt ? { changedAt } : {}),
  };
}

export function toAuditEntry(v: unknown, i: number): AuditEntry {
  const o = obj(v);
  const from = mode(pick(o, 'from', 'old_mode', 'oldMode'));
  const to = mode(pick(o, 'to', 'new_mode', 'newMode', 'mode'));
  const score = num(o, 'score');
  const objectId = str(o, 'object_id', 'objectId');
  const at = time(o, 'at', 'time', 'timestamp', 'ts');
  return {
    id: str(o, 'id', 'audit_id', 'sk') ?? `${at}-${i}`,
    at,
    action: str(o, 'action', 'kind', 'type', 'event') ?? 'decision',
    actor: str(o, 'actor', 'by', 'user') ?? 'controller',
    reason: str(o, 'reason', 'message') ?? '',
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    ...(score !== undefined ? { score } : {}),
    ...(objectId ? { objectId } : {}),
  };
}

export function toRegionFault(v: unknown, regionKey?: string): RegionFault {
  const o = obj(v);
  const state = str(o, 'state', 'mode');
  return {
    region: str(o, 'region') ?? regionKey ?? '?',
    state: state === 'blackhole' || state === 'refuse' ? state : 'up',
    latencyMs: num(o, 'latency_ms', 'latencyMs') ?? 0,
    jitterMs: num(o, 'jitter_ms', 'jitterMs') ?? 0,
    loss: num(o, 'loss') ?? 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Client

export interface ApiOptions {
  /** Origin prefix; '' for same-origin. */
  baseUrl?: string;
  fetch?: typeof fetch;
  getToken?: () => string | undefined;
  /** Called when a request that carried a token is answered 401 (expired or revoked session). */
  onUnauthorized?: (err: ApiError) => void;
}

interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Send no bearer token (sign in / sign up). */
  anonymous?: boolean;
  /**
   * Also send the token in X-EchoFS-Authorization: the streaming download endpoint reads it there
   * (in the cloud, Authorization carries CloudFront's signature to that endpoint).
   */
  downloadToken?: boolean;
}

export interface CommitOptions {
  ifMatch?: number;
  signal?: AbortSignal;
}

export type Api = ReturnType<typeof createApi>;

function parseRetryAfter(v: string | null): number | undefined {
  if (!v) return undefined;
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : undefined;
}

/** The file name in a Content-Disposition header (RFC 6266, filename* preferred). */
export function filenameFromDisposition(h: string | null): string | undefined {
  if (!h) return undefined;
  const star = /filename\*\s*=\s*([^']*)'[^']*'([^;]+)/i.exec(h);
  if (star?.[2]) {
    try {
      return decodeURIComponent(star[2].trim());
    } catch {
      /* fall through to the plain form */
    }
  }
  const plain = /filename\s*=\s*("([^"]*)"|[^;]+)/i.exec(h);
  return plain ? (plain[2] ?? plain[1] ?? '').trim() : undefined;
}

export function createApi(opts: ApiOptions = {}) {
  const base = opts.baseUrl ?? '';
  const doFetch = opts.fetch ?? ((...a: Parameters<typeof fetch>) => globalThis.fetch(...a));

  async function send(path: string, o: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json', ...(o.headers ?? {}) };
    const token = o.anonymous ? undefined : opts.getToken?.();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (token && o.downloadToken) headers[DOWNLOAD_TOKEN_HEADER] = `Bearer ${token}`;
    let body = o.body;
    if (o.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(o.json);
    }
    let res: Response;
    try {
      res = await doFetch(base + path, { method: o.method ?? 'GET', headers, body, signal: o.signal });
    } catch (err) {
      if (isAbort(err)) throw err;
      throw new ApiError(0, 'network_error', 'Cannot reach the EchoFS server. Check your connection and try again.');
    }
    if (!res.ok) {
      const err = await toApiError(res);
      if (res.status === 401 && token) opts.onUnauthorized?.(err);
      throw err;
    }
    return res;
  }

  async function toApiError(res: Response): Promise<ApiError> {
    let body: Json = {};
    try {
      body = obj(JSON.parse(await res.text()));
    } catch {
      /* not JSON: fall back to the status text */
    }
    const e = obj(body.error);
    const code = str(e, 'code') ?? (typeof body.error === 'string' ? body.error : undefined) ?? `http_${res.status}`;
    const message = friendlyApiMessage(res.status, code, str(e, 'message') ?? str(body, 'message'));
    const requestId = str(e, 'request_id') ?? res.headers.get('x-request-id') ?? undefined;
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    const field = str(e, 'field');
    return new ApiError(res.status, code, message, {
      ...(requestId ? { requestId } : {}),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      ...(field ? { field } : {}),
    });
  }

  async function call(path: string, o: RequestOptions = {}): Promise<unknown> {
    const res = await send(path, o);
    const text = await res.text();
    if (!text) return {};
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new ApiError(res.status, 'invalid_response', 'The server sent a response the app cannot read.');
    }
  }

  const enc = encodeURIComponent;

  function toSession(body: unknown): Session {
    const p = payload(body);
    const b = obj(body);
    const token = str(b, 'token') ?? str(p, 'token');
    if (!token) throw new ApiError(200, 'invalid_response', 'The server did not return a session token.');
    return { token, user: toUser(pick(b, 'user') ?? pick(p, 'user')) };
  }

  /** One page of files in name order (the server's order), or of the trash with `deleted`. */
  async function listPage(o: { limit?: number; cursor?: string; name?: string; deleted?: boolean; signal?: AbortSignal } = {}): Promise<FilePage> {
    const q = new URLSearchParams();
    if (o.limit !== undefined) q.set('limit', String(o.limit));
    if (o.cursor) q.set('cursor', o.cursor);
    if (o.name !== undefined) q.set('name', o.name);
    if (o.deleted) q.set('deleted', 'true');
    const qs = q.toString();
    const body = await call(`/api/v1/files${qs ? `?${qs}` : ''}`, { signal: o.signal });
    const next = obj(body).next_cursor;
    const retention = num(obj(body), 'trash_retention_seconds');
    return {
      items: list(body, 'files', 'items').map(toFileSummary),
      nextCursor: typeof next === 'string' && next !== '' ? next : null,
      ...(retention !== undefined ? { retentionSeconds: retention } : {}),
    };
  }

  return {
    // auth ---------------------------------------------------------------------------------
    async register(input: { username: string; email: string; password: string }): Promise<Session> {
      return toSession(await call('/api/v1/auth/register', { method: 'POST', json: input, anonymous: true }));
    },
    async login(input: { email: string; password: string }): Promise<Session> {
      return toSession(await call('/api/v1/auth/login', { method: 'POST', json: input, anonymous: true }));
    },
    /** Revoke the session on the server (every token of this account stops working). */
    async logout(): Promise<void> {
      await call('/api/v1/auth/logout', { method: 'POST' });
    },
    /** Change the password: every earlier token stops working, the answer carries a fresh session. */
    async changePassword(input: ChangePasswordRequest): Promise<Session> {
      return toSession(await call('/api/v1/auth/password', { method: 'POST', json: input }));
    },
    async me(): Promise<User> {
      const b = obj(await call('/api/v1/auth/profile'));
      return toUser(pick(b, 'user') ?? pick(payload(b), 'user'));
    },

    // files --------------------------------------------------------------------------------
    /** Every file, most recently uploaded first: the list is read page by page (`next_cursor`). */
    async listFiles(signal?: AbortSignal): Promise<FileSummary[]> {
      const out: FileSummary[] = [];
      let cursor: string | undefined;
      do {
        const body = await call(`/api/v1/files${cursor ? `?cursor=${enc(cursor)}` : ''}`, { signal });
        out.push(...list(body, 'files', 'items').map(toFileSummary));
        const next = obj(body).next_cursor;
        cursor = typeof next === 'string' && next !== '' && next !== cursor ? next : undefined;
      } while (cursor);
      return out.sort((a, b) => Date.parse(b.uploadedAt || '0') - Date.parse(a.uploadedAt || '0') || a.name.localeCompare(b.name));
    },
    listPage,
    /** The file named exactly `name`, if there is one. */
    async findByName(name: string, signal?: AbortSignal): Promise<FileSummary | undefined> {
      const p = await listPage({ name, limit: 1, signal });
      return p.items.find((f) => f.name === name);
    },
    async fileVersions(id: string): Promise<FileVersion[]> {
      const body = await call(`/api/v1/files/${enc(id)}/versions`);
      const p = payload(body);
      const current = num(p, 'current_version', 'version');
      return list(body, 'versions', 'items')
        .map((v) => toFileVersion(v, current))
        .sort((a, b) => b.version - a.version);
    },
    async deleteFile(id: string): Promise<void> {
      await call(`/api/v1/files/${enc(id)}`, { method: 'DELETE' });
    },
    async restoreFile(id: string): Promise<void> {
      await call(`/api/v1/files/${enc(id)}/restore`, { method: 'POST' });
    },
    /** Delete a file in the trash for good (it cannot be restored afterwards). */
    async deleteForever(id: string): Promise<void> {
      await call(`/api/v1/files/${enc(id)}?permanent=true`, { method: 'DELETE' });
    },
    /** Make an earlier version current again: the server commits its content as a new version. */
    async restoreVersion(id: string, version: number): Promise<FileSummary> {
      return toFileSummary(payload(await call(`/api/v1/files/${enc(id)}/versions/${version}/restore`, { method: 'POST' })));
    },
    async renameFile(id: string, name: RenameRequest['name']): Promise<FileSummary> {
      const body: RenameRequest = { name };
      return toFileSummary(payload(await call(`/api/v1/files/${enc(id)}/rename`, { method: 'POST', json: body })));
    },
    /** The file's bytes (the current version, or `version`), with the server's file name. */
    async download(id: string, version?: number, signal?: AbortSignal): Promise<{ blob: Blob; filename?: string }> {
      const q = version !== undefined ? `?version=${version}` : '';
      const res = await send(`/api/v1/files/${enc(id)}/download${q}`, { signal, headers: { Accept: '*/*' }, downloadToken: true });
      const filename = filenameFromDisposition(res.headers.get('content-disposition'));
      return { blob: await res.blob(), ...(filename ? { filename } : {}) };
    },
    /**
     * The file's bytes as a stream (the current version, or `version`), with what the headers say:
     * the server's file name, the length, and the version's SHA-256 (from its ETag).
     */
    async openDownload(id: string, version?: number, signal?: AbortSignal): Promise<DownloadResponse> {
      const q = version !== undefined ? `?version=${version}` : '';
      const res = await send(`/api/v1/files/${enc(id)}/download${q}`, { signal, headers: { Accept: '*/*' }, downloadToken: true });
      const filename = filenameFromDisposition(res.headers.get('content-disposition'));
      const length = Number(res.headers.get('content-length') ?? NaN);
      const sha256 = /^(?:W\/)?"([0-9a-f]{64})\.\d+"$/.exec(res.headers.get('etag')?.trim() ?? '')?.[1];
      const contentType = res.headers.get('content-type') ?? undefined;
      return {
        body: res.body,
        ...(filename ? { filename } : {}),
        ...(Number.isSafeInteger(length) && length >= 0 ? { size: length } : {}),
        ...(sha256 ? { sha256 } : {}),
        ...(contentType ? { contentType } : {}),
      };
    },
    /**
     * A signed link to the streamed download of the file (or of `version`), good for a minute and
     * needing no bearer token: an absolute URL to hand to the browser's own download manager.
     */
    async downloadLink(id: string, version?: number, signal?: AbortSignal): Promise<{ url: string; expiresAt: string }> {
      const body: DownloadLinkRequest = version !== undefined ? { version } : {};
      const d = payload(await call(`/api/v1/files/${enc(id)}/download-link`, { method: 'POST', json: body, signal }));
      const url = typeof d.url === 'string' ? d.url : '';
      if (!url.startsWith('/')) throw new ApiError(0, 'invalid_response', 'The server sent a download link the app cannot read.');
      return { url: new URL(base + url, globalThis.location?.href ?? 'http://localhost/').href, expiresAt: String(d.expires_at ?? '') };
    },
    /** The chunk list of the file (or of `version`) with presigned URLs, for downloads too large to stream. */
    async manifest(id: string, version?: number, signal?: AbortSignal): Promise<Manifest> {
      return toManifest(await call(manifestPath(id, version), { signal }));
    },

    // chunk sessions -----------------------------------------------------------------------
    async createUpload(
      input: { name: string; size: number; sha256: string; chunks: { hash: string; size: number }[] },
      signal?: AbortSignal,
    ): Promise<UploadSession> {
      return toUploadSession(await call('/api/v1/uploads', { method: 'POST', json: input, signal }));
    },
    async getUpload(uploadId: string, signal?: AbortSignal): Promise<UploadSession> {
      const s = toUploadSession(await call(`/api/v1/uploads/${enc(uploadId)}`, { signal }));
      return { ...s, uploadId: s.uploadId || uploadId };
    },
    async putChunk(uploadId: string, hash: string, bytes: ArrayBuffer, signal?: AbortSignal): Promise<void> {
      await call(`/api/v1/uploads/${enc(uploadId)}/chunks/${enc(hash)}`, {
        method: 'PUT',
        body: bytes,
        headers: { 'Content-Type': 'application/octet-stream' },
        signal,
      });
    },
    async commitUpload(uploadId: string, o: CommitOptions = {}): Promise<FileSummary> {
      const body = await call(`/api/v1/uploads/${enc(uploadId)}/commit`, {
        method: 'POST',
        signal: o.signal,
        ...(o.ifMatch !== undefined ? { headers: { 'If-Match': String(o.ifMatch) } } : {}),
      });
      const p = payload(body);
      return toFileSummary(isObj(p.file) ? p.file : p);
    },
    async abortUpload(uploadId: string): Promise<void> {
      await call(`/api/v1/uploads/${enc(uploadId)}`, { method: 'DELETE' });
    },

    // controller ---------------------------------------------------------------------------
    async status(signal?: AbortSignal): Promise<ControllerStatus> {
      return toControllerStatus(await call('/v1/status', { signal }));
    },
    /** The controller's samples and timeline events between two times (epoch ms; the server caps the window at 24 h). */
    async history(from: number, to?: number, signal?: AbortSignal): Promise<ControllerHistory> {
      const q = new URLSearchParams({ from: String(Math.floor(from)), ...(to !== undefined ? { to: String(Math.floor(to)) } : {}) });
      return toControllerHistory(await call(`/v1/history?${q.toString()}`, { signal }));
    },
    async audit(limit = 50): Promise<AuditEntry[]> {
      return list(await call(`/v1/audit?limit=${limit}`), 'entries', 'audit', 'items', 'events').map(toAuditEntry);
    },
    async modeFor(objectId: string): Promise<ModeAnswer> {
      const p = payload(await call(`/v1/mode?object_id=${enc(objectId)}`));
      const oid = str(p, 'object_id');
      const h = str(p, 'hint');
      const hint: Hint | undefined = h === 'strong' || h === 'available' || h === 'none' ? h : undefined;
      return { mode: mode(p.mode) ?? 'C', reason: str(p, 'reason') ?? '', ...(oid ? { objectId: oid } : {}), ...(hint ? { hint } : {}) };
    },
    async setOverride(m: Mode, objectId?: string): Promise<void> {
      await call('/v1/override', { method: 'POST', json: objectId ? { mode: m, object_id: objectId } : { mode: m } });
    },
    async clearOverride(objectId?: string): Promise<void> {
      const q = objectId ? `?object_id=${enc(objectId)}` : '';
      await call(`/v1/override${q}`, { method: 'DELETE' });
    },
    async criticalKeys(): Promise<CriticalKey[]> {
      const b = obj(await call('/v1/critical-keys'));
      if (Array.isArray(b.items)) {
        return b.items.map((k) => {
          const o = obj(k);
          const addedBy = str(o, 'added_by');
          const addedAt = time(o, 'added_at');
          return { key: str(o, 'key') ?? '', ...(addedBy ? { addedBy } : {}), ...(addedAt ? { addedAt } : {}) };
        }).filter((k) => k.key !== '');
      }
      return list(b, 'critical_keys', 'keys').filter((k): k is string => typeof k === 'string').map((key) => ({ key }));
    },
    async addCriticalKey(key: string): Promise<void> {
      await call('/v1/critical-keys', { method: 'POST', json: { key } });
    },
    async removeCriticalKey(key: string): Promise<void> {
      await call(`/v1/critical-keys?key=${enc(key)}`, { method: 'DELETE' });
    },
    async setHint(objectId: string, hint: Hint): Promise<void> {
      await call('/v1/hint', { method: 'POST', json: { object_id: objectId, hint } });
    },

    // local fault injection ----------------------------------------------------------------
    async faults(): Promise<RegionFault[]> {
      const body = await call('/api/v1/local/faults');
      const arr = list(body, 'faults', 'regions', 'replicas');
      if (arr.length > 0) return arr.map((f) => toRegionFault(f));
      const p = payload(body);
      const map = isObj(p.faults) ? p.faults : p;
      return Object.entries(map)
        .filter(([k, v]) => isObj(v) && k !== 'success')
        .map(([k, v]) => toRegionFault(v, k));
    },
    async setFault(f: { region: string; state: FaultMode; latency_ms?: number; jitter_ms?: number; loss?: number }): Promise<void> {
      await call('/api/v1/local/faults', { method: 'POST', json: f });
    },
  };
}
