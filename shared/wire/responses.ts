/**
 * The response side of the wire: for every route in the route table (shared/routes.ts), keyed by
 * route key like shared/wire/requests.ts, the body of each status it answers with. These schemas
 * are the single description of what the API sends:
 * - shared/responses.ts builds the bodies, typed from them (z.infer);
 * - the OpenAPI document (shared/wire/openapi.ts) is generated from them;
 * - the web app, the bench client and the CLI take their types (and the CLI its parsers) from them;
 * - test/contract checks that every route's real answers parse against them, with no field left
 *   undeclared.
 * Published fields (shared/published-api.md) are marked in their descriptions; our own fields sit
 * beside them. Objects are declared with z.object: a parser strips fields it does not know, so a
 * client built on these schemas keeps working when the server adds one.
 */
import { z } from 'zod';

// ---------------------------------------------------------------- fields

export const modeEnum = z.enum(['C', 'H', 'A']).meta({ description: 'Consistency mode: C strong, H hybrid, A available.' });
export type WireMode = z.infer<typeof modeEnum>;
export const roleEnum = z.enum(['user', 'admin']);
export type WireRole = z.infer<typeof roleEnum>;
export const hintEnum = z.enum(['strong', 'available', 'none']);
export type WireHint = z.infer<typeof hintEnum>;
export const faultStateEnum = z.enum(['up', 'blackhole', 'refuse']);

/** A timestamp as the API writes it (Date#toISOString). */
const iso = z.iso.datetime({ offset: true });
const published = (description: string) => ({ description: `Published field. ${description}` });

// ---------------------------------------------------------------- common bodies

/** Every error answer: a code, a sentence for clients, the request id, sometimes the field at fault. */
export const errorBody = z
  .looseObject({
    success: z.literal(false),
    error: z.looseObject({
      code: z.string(),
      message: z.string(),
      field: z.string().optional(),
      request_id: z.string().optional(),
    }),
  })
  .meta({ id: 'Error' });
export type ErrorBody = z.infer<typeof errorBody>;

/** `{success: true, message}`: an acknowledgement with nothing more to say. */
export const messageBody = z.object({ success: z.literal(true), message: z.string() }).meta({ id: 'Message' });
export type MessageBody = z.infer<typeof messageBody>;

// ---------------------------------------------------------------- auth

export const userBody = z
  .object({ id: z.string(), username: z.string(), email: z.string(), role: roleEnum })
  .meta({ id: 'User', description: 'Published: the user (id, username, email, role).' });
export type UserBody = z.infer<typeof userBody>;

export const sessionBody = z
  .object({ success: z.literal(true), token: z.string().meta(published('A JWT bearer token.')), user: userBody, message: z.string().optional() })
  .meta({ id: 'Session', description: 'Published: register and login answer {success, token, user}.' });
export type SessionBody = z.infer<typeof sessionBody>;

export const profileBody = z.object({ success: z.literal(true), user: userBody }).meta({ id: 'Profile' });
export type ProfileBody = z.infer<typeof profileBody>;

// ---------------------------------------------------------------- files

export const replicaSummaryBody = z
  .object({
    chunks: z.number().int().meta({ description: 'Chunks of the current version.' }),
    present: z.record(z.string(), z.number().int()).meta({ description: 'Region → chunks of the current version present there.' }),
    complete: z.array(z.string()).meta({ description: 'Regions holding every chunk.' }),
    under_replicated: z.number().int().meta({ description: 'Chunks with fewer present copies than a majority of replicas.' }),
  })
  .meta({ id: 'ReplicaSummary' });
export type ReplicaSummaryBody = z.infer<typeof replicaSummaryBody>;

/** One file (current version). */
export const fileBody = z
  .object({
    file_id: z.string().meta(published('The file id (a UUID).')),
    name: z.string().meta(published('The file name.')),
    size: z.number().int().meta(published('Bytes of the current version.')),
    file_size: z.number().int().meta(published('Same as size (the upload answer).')),
    version: z.number().int(),
    chunks: z.number().int().meta(published('Chunks of the current version.')),
    compressed: z.boolean().meta(published('Whether any chunk is stored compressed.')),
    sha256: z.string(),
    content_type: z.string(),
    mode: modeEnum,
    uploaded: iso.nullable().meta(published('When the current version was written (ISO 8601).')),
    created: iso.nullable(),
    deleted: iso.optional().meta({ description: 'When the file was moved to the bin (only for files in it).' }),
  })
  .meta({ id: 'File' });
export type FileBody = z.infer<typeof fileBody>;

export const fileListItemBody = fileBody.extend({ replicas: replicaSummaryBody }).meta({ id: 'FileListItem' });
export type FileListItemBody = z.infer<typeof fileListItemBody>;

export const fileListBody = z
  .object({
    success: z.literal(true),
    data: z.array(fileListItemBody).meta(published('The files: an array.')),
    count: z.number().int(),
    limit: z.number().int(),
    next_cursor: z.string().nullable().meta({ description: 'Pass as ?cursor= for the next page; null on the last page.' }),
  })
  .meta({ id: 'FileList' });
export type FileListBody = z.infer<typeof fileListBody>;

/** `{success, data: file}`: upload, commit, restore. */
export const fileEnvelope = z.object({ success: z.literal(true), data: fileBody }).meta({ id: 'FileEnvelope' });
export type FileEnvelope = z.infer<typeof fileEnvelope>;

export const versionBody = z
  .object({
    version: z.number().int(),
    size: z.number().int(),
    sha256: z.string(),
    chunks: z.number().int(),
    content_type: z.string(),
    mode: modeEnum,
    uploaded: iso.nullable(),
    current: z.boolean(),
  })
  .meta({ id: 'Version' });
export type VersionBody = z.infer<typeof versionBody>;

export const placementStateEnum = z.enum(['present', 'pending', 'missing']);

export const fileDetailBody = z
  .object({
    success: z.literal(true),
    data: fileBody.extend({
      versions: z.array(versionBody),
      replicas: replicaSummaryBody,
      placements: z.array(
        z.object({ index: z.number().int(), hash: z.string(), size: z.number().int(), compressed: z.boolean(), regions: z.record(z.string(), placementStateEnum) }),
      ),
      placements_truncated: z.boolean(),
    }),
  })
  .meta({ id: 'FileDetail' });
export type FileDetailBody = z.infer<typeof fileDetailBody>;

export const manifestChunkBody = z.object({
  index: z.number().int(),
  hash: z.string(),
  size: z.number().int(),
  offset: z.number().int(),
  compressed: z.boolean(),
  region: z.string().nullable(),
  url: z.string().nullable().meta({ description: 'Presigned GET of the stored chunk; null when no replica holding it is reachable.' }),
});
export type ManifestChunkBody = z.infer<typeof manifestChunkBody>;

export const manifestBody = z
  .object({
    success: z.literal(true),
    data: fileBody.omit({ chunks: true }).extend({
      chunk_size: z.number().int(),
      expires_in: z.number().int().meta({ description: 'Seconds the URLs stay valid.' }),
      encoding: z.string(),
      chunks: z.array(manifestChunkBody),
    }),
  })
  .meta({ id: 'Manifest' });
export type ManifestBody = z.infer<typeof manifestBody>;

export const versionsBody = z
  .object({ success: z.literal(true), data: z.object({ file_id: z.string(), versions: z.array(versionBody) }) })
  .meta({ id: 'Versions' });
export type VersionsBody = z.infer<typeof versionsBody>;

export const deletedBody = z
  .object({
    success: z.literal(true),
    message: z.literal('File deleted successfully').meta(published('Always "File deleted successfully".')),
    file_id: z.string(),
    restorable: z.boolean(),
    hint: z.string(),
  })
  .meta({ id: 'Deleted' });
export type DeletedBody = z.infer<typeof deletedBody>;

export const uploadSessionBody = z
  .object({
    upload_id: z.string(),
    name: z.string(),
    size: z.number().int(),
    sha256: z.string(),
    chunks: z.number().int(),
    chunk_size: z.number().int(),
    missing: z.array(z.string()).meta({ description: 'Hashes of the chunks still to send.' }),
    expires_at: iso.nullable(),
    committed: z.boolean(),
  })
  .meta({ id: 'UploadSession' });
export type UploadSessionBody = z.infer<typeof uploadSessionBody>;

export const uploadSessionEnvelope = z.object({ success: z.literal(true), data: uploadSessionBody }).meta({ id: 'UploadSessionEnvelope' });
export type UploadSessionEnvelope = z.infer<typeof uploadSessionEnvelope>;

export const chunkPutBody = z
  .object({
    success: z.literal(true),
    data: z.object({
      hash: z.string(),
      size: z.number().int(),
      stored: z.literal(true),
      deduped: z.boolean(),
      compressed: z.boolean(),
      acked: z.array(z.string()).meta({ description: 'Regions holding the chunk when the write was acknowledged.' }),
      pending: z.array(z.string()).meta({ description: 'Regions left to the replicator.' }),
      mode: modeEnum,
      degraded: z.boolean(),
    }),
  })
  .meta({ id: 'ChunkPut' });
export type ChunkPutBody = z.infer<typeof chunkPutBody>;

// ---------------------------------------------------------------- health

const componentStatus = z.enum(['up', 'degraded', 'down']);
const component = z.object({ ok: z.boolean(), status: componentStatus.optional(), error: z.string().optional().meta({ description: 'Admins only.' }) });

export const serviceHealthBody = z
  .object({
    success: z.boolean(),
    status: z.enum(['ok', 'degraded', 'down']),
    catalog: component,
    replicas: z.record(
      z.string(),
      component.extend({ latencyMs: z.number().optional().meta({ description: 'Admins only.' }) }),
    ),
    quorum: z.number().int(),
    controller: component.optional(),
  })
  .meta({ id: 'ServiceHealth', description: 'Anonymous callers see a status per component; admins also see latencies and error text.' });
export type ServiceHealthBody = z.infer<typeof serviceHealthBody>;

export const replicaViewBody = z
  .object({
    region: z.string(),
    reachable: z.boolean(),
    status: componentStatus.optional(),
    latency_ewma_ms: z.number().nullable().optional(),
    latency_p50_ms: z.number().nullable().optional(),
    latency_p95_ms: z.number().nullable().optional(),
    error_rate: z.number().optional(),
    consecutive_failures: z.number().int().optional(),
    last_ok_at: iso.nullable().optional(),
    last_error_at: iso.nullable().optional(),
    last_error: z.string().nullable().optional().meta({ description: "Error text for admins; 'unreachable' or null for everyone else." }),
  })
  .meta({ id: 'ReplicaView' });
export type ReplicaViewBody = z.infer<typeof replicaViewBody>;

export const controllerHealthBody = z
  .object({
    status: z.enum(['healthy', 'degraded', 'unhealthy']),
    mode: modeEnum.optional(),
    replicas: z.array(replicaViewBody),
    reachable: z.number().int(),
    total: z.number().int(),
    quorum_available: z.boolean(),
    controller_store: z.enum(['ok', 'unavailable']),
    timestamp: iso,
  })
  .meta({ id: 'ControllerHealth' });
export type ControllerHealthBody = z.infer<typeof controllerHealthBody>;

// ---------------------------------------------------------------- controller

export const scoreParts = z
  .object({ partition: z.number(), lag: z.number(), writes: z.number(), hint: z.number(), penalty: z.number() })
  .meta({ id: 'ScoreParts', description: 'The controller inputs (each in [0,1]) or their weighted contributions (the penalty is negative).' });
export type ScoreParts = z.infer<typeof scoreParts>;

export const sampleBody = z.object({ at: z.number(), score: z.number(), proposed: modeEnum, emergency: z.boolean() }).meta({ id: 'Sample' });
export type SampleBody = z.infer<typeof sampleBody>;

export const auditEntryBody = z
  .looseObject({
    id: z.string(),
    at: z.number().meta({ description: 'Epoch ms.' }),
    kind: z.enum(['transition', 'operator']),
    actor: z.string(),
    action: z.string(),
    reason: z.string(),
    from: modeEnum.optional(),
    to: modeEnum.optional(),
    objectId: z.string().optional(),
    inputs: scoreParts.optional(),
    score: z.number().optional(),
    parts: scoreParts.optional(),
    detail: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'AuditEntry' });
export type AuditEntryBody = z.infer<typeof auditEntryBody>;

export const statusBody = z
  .looseObject({
    mode: modeEnum,
    score: z.number().nullable(),
    parts: scoreParts.nullable(),
    inputs: scoreParts.nullable(),
    thresholds: z.object({ available_above: z.number(), strong_below: z.number() }),
    hysteresis_samples: z.number().int(),
    samples: z.array(sampleBody),
    version: z.number().int(),
    changed_at: iso.nullable(),
    updated_at: iso.nullable(),
    global_override: modeEnum.nullable(),
    object_overrides: z.number().int(),
    critical_keys: z.number().int(),
    replicas: z.array(replicaViewBody),
    backlog: z.looseObject({ pending: z.number().int(), missing: z.number().int() }),
    replication_lag_ms: z.number(),
    transitions: z.array(auditEntryBody),
    timestamp: iso,
  })
  .meta({ id: 'ControllerStatus' });
export type StatusBody = z.infer<typeof statusBody>;

export const modeBody = z
  .object({
    object_id: z.string().nullable().meta(published('The object asked about.')),
    mode: modeEnum.meta(published('C, H or A.')),
    reason: z.string().meta(published('Why this mode.')),
    timestamp: iso.meta(published('ISO 8601.')),
  })
  .meta({ id: 'ModeAnswer' });
export type ModeBody = z.infer<typeof modeBody>;

/** What a stored hint, override or critical key protects. */
export const protectsBody = z
  .object({
    key: z.string().meta({ description: "The key stored and matched (a file id is stored as '<owner id>/<name>')." }),
    file_id: z.string().nullable().meta({ description: 'The file id given, or null when a name or prefix was given.' }),
    owner_id: z.string().nullable().meta({ description: "The owner whose file is meant, or null: a bare name or prefix matches every owner's files." }),
    name: z.string().meta({ description: "The file name, or the prefix without its '*'." }),
    prefix: z.boolean(),
  })
  .meta({ id: 'Protects' });
export type ProtectsBody = z.infer<typeof protectsBody>;

export const hintAck = z
  .object({ success: z.literal(true), status: z.literal('success'), object_id: z.string(), hint: hintEnum, mode: modeEnum, protects: protectsBody.optional() })
  .meta({ id: 'HintAck' });
export type HintAck = z.infer<typeof hintAck>;

export const overrideAck = z
  .object({ success: z.literal(true), status: z.literal('success'), mode: modeEnum, object_id: z.string().nullable(), protects: protectsBody.nullable().optional() })
  .meta({ id: 'OverrideAck' });
export type OverrideAck = z.infer<typeof overrideAck>;

export const overrideClearedBody = z.object({ success: z.literal(true), cleared: z.boolean(), object_id: z.string().nullable() }).meta({ id: 'OverrideCleared' });
export type OverrideClearedBody = z.infer<typeof overrideClearedBody>;

export const criticalKeysBody = z
  .object({
    success: z.literal(true),
    critical_keys: z.array(z.string()).meta(published('The always-strong keys.')),
    count: z.number().int(),
    items: z.array(z.object({ key: z.string(), added_by: z.string(), added_at: iso })),
  })
  .meta({ id: 'CriticalKeys' });
export type CriticalKeysBody = z.infer<typeof criticalKeysBody>;

export const criticalKeyAddedBody = z.object({ success: z.literal(true), key: z.string(), mode: z.literal('C'), protects: protectsBody }).meta({ id: 'CriticalKeyAdded' });
export type CriticalKeyAddedBody = z.infer<typeof criticalKeyAddedBody>;
export const criticalKeyRemovedBody = z.object({ success: z.literal(true), key: z.string(), protects: protectsBody }).meta({ id: 'CriticalKeyRemoved' });
export type CriticalKeyRemovedBody = z.infer<typeof criticalKeyRemovedBody>;

export const auditPageBody = z
  .object({
    success: z.literal(true),
    entries: z.array(auditEntryBody.extend({ time: iso })),
    next_cursor: z.string().nullable(),
  })
  .meta({ id: 'AuditPage' });
export type AuditPageBody = z.infer<typeof auditPageBody>;

// ---------------------------------------------------------------- local fault injection

export const faultSettingsBody = z
  .object({ state: faultStateEnum, latency_ms: z.number(), jitter_ms: z.number(), loss: z.number() })
  .meta({ id: 'FaultSettings' });
export type FaultSettingsBody = z.infer<typeof faultSettingsBody>;

export const faultsBody = z.object({ success: z.literal(true), faults: z.record(z.string(), faultSettingsBody) }).meta({ id: 'Faults' });
export type FaultsBody = z.infer<typeof faultsBody>;
export const faultSetBody = z.object({ success: z.literal(true), region: z.string(), fault: faultSettingsBody }).meta({ id: 'FaultSet' });
export type FaultSetBody = z.infer<typeof faultSetBody>;

// ---------------------------------------------------------------- the document itself

export const openApiDocumentBody = z
  .looseObject({ openapi: z.string(), info: z.looseObject({ title: z.string(), version: z.string() }), paths: z.record(z.string(), z.unknown()) })
  .meta({ id: 'OpenApiDocument', description: 'This document (OpenAPI 3.1).' });

// ---------------------------------------------------------------- per route

/** A body that is not JSON: the file's bytes (downloads), or nothing (304). */
export interface RawBody {
  raw: 'bytes' | 'empty';
  description: string;
}

export interface ResponseSpec {
  /** One-line summary of the route (the OpenAPI operation summary). */
  summary: string;
  /** Status → body; every route also answers the error statuses with `errorBody`. */
  ok: Partial<Record<number, z.ZodType | RawBody>>;
}

const bytes: RawBody = { raw: 'bytes', description: "The file's bytes (the whole file, or the requested range)." };

export const responses = {
  // auth
  'POST /api/v1/auth/register': { summary: 'Create an account (published).', ok: { 201: sessionBody } },
  'POST /api/v1/auth/login': { summary: 'Sign in (published).', ok: { 200: sessionBody } },
  'GET /api/v1/auth/profile': { summary: 'The signed-in user (published).', ok: { 200: profileBody } },
  'GET /api/v1/auth/me': { summary: 'The signed-in user.', ok: { 200: profileBody } },
  'POST /api/v1/auth/password': { summary: 'Change the password; earlier tokens stop working.', ok: { 200: sessionBody } },
  'POST /api/v1/auth/admin/claim': {
    summary: 'Become an administrator: an address of the admin list, with the bootstrap token in X-EchoFS-Admin-Token where one is required.',
    ok: { 200: sessionBody },
  },
  'POST /api/v1/auth/logout': { summary: 'Sign out everywhere: every earlier token stops working.', ok: { 200: messageBody } },
  // health
  'GET /api/v1/health': { summary: 'Health of the service (published).', ok: { 200: serviceHealthBody, 503: serviceHealthBody } },
  'GET /api/v1/openapi.json': { summary: 'This OpenAPI 3.1 document.', ok: { 200: openApiDocumentBody } },
  // files
  'POST /api/v1/files/upload': { summary: 'Upload a file in one multipart/form-data request, field `file` (published).', ok: { 201: fileEnvelope } },
  'GET /api/v1/files': { summary: "List the caller's files, a page at a time (published).", ok: { 200: fileListBody } },
  'GET /api/v1/files/{id}': { summary: 'One file with its versions and chunk placements.', ok: { 200: fileDetailBody } },
  'DELETE /api/v1/files/{id}': { summary: 'Move a file to the bin (published).', ok: { 200: deletedBody } },
  'GET /api/v1/files/{id}/download': {
    summary: "The file's bytes (published); Range, If-Range and If-None-Match supported.",
    ok: { 200: bytes, 206: bytes, 304: { raw: 'empty', description: 'Not modified (If-None-Match matched).' } },
  },
  'GET /api/v1/files/{id}/manifest': { summary: 'Chunk list with presigned URLs, for parallel or very large downloads.', ok: { 200: manifestBody } },
  'GET /api/v1/files/{id}/versions': { summary: "A file's versions, newest first.", ok: { 200: versionsBody } },
  'POST /api/v1/files/{id}/restore': { summary: 'Restore a file from the bin.', ok: { 200: fileEnvelope } },
  // chunk sessions
  'POST /api/v1/uploads': { summary: 'Declare an upload by its chunk hashes; the answer lists the chunks to send.', ok: { 201: uploadSessionEnvelope } },
  'GET /api/v1/uploads/{id}': { summary: 'An upload session (the chunks still missing).', ok: { 200: uploadSessionEnvelope } },
  'PUT /api/v1/uploads/{id}/chunks/{hash}': { summary: "Send one chunk's bytes (application/octet-stream).", ok: { 200: chunkPutBody } },
  'POST /api/v1/uploads/{id}/commit': { summary: 'Commit an upload session as the new version of its file.', ok: { 200: fileEnvelope } },
  'DELETE /api/v1/uploads/{id}': { summary: 'Cancel an upload session.', ok: { 200: messageBody } },
  // consistency controller
  'GET /v1/mode': { summary: 'The consistency mode for an object (published).', ok: { 200: modeBody } },
  'POST /v1/hint': { summary: "Set an object's consistency hint (published).", ok: { 200: hintAck } },
  'POST /v1/override': { summary: 'Override the mode, globally or for one object (published; admin).', ok: { 200: overrideAck } },
  'DELETE /v1/override': { summary: 'Clear an override (admin).', ok: { 200: overrideClearedBody } },
  'GET /v1/critical-keys': { summary: 'The always-strong keys (published; admin).', ok: { 200: criticalKeysBody } },
  'POST /v1/critical-keys': { summary: 'Add a critical key (admin).', ok: { 201: criticalKeyAddedBody } },
  'DELETE /v1/critical-keys': { summary: 'Remove a critical key (admin).', ok: { 200: criticalKeyRemovedBody } },
  'GET /v1/health': { summary: "The controller's health.", ok: { 200: controllerHealthBody, 503: controllerHealthBody } },
  'GET /v1/status': { summary: "The controller's status: mode, score, inputs, replicas, backlog.", ok: { 200: statusBody } },
  'GET /v1/audit': { summary: 'The audit log, newest first (admin).', ok: { 200: auditPageBody } },
  'GET /health': { summary: "The controller's health (published path).", ok: { 200: controllerHealthBody, 503: controllerHealthBody } },
  'GET /status': { summary: "The controller's status (published path).", ok: { 200: statusBody } },
  // local fault injection
  'GET /api/v1/local/faults': { summary: "Every region's fault settings (local runtime only; admin).", ok: { 200: faultsBody } },
  'POST /api/v1/local/faults': { summary: "Change a region's fault settings (local runtime only; admin).", ok: { 200: faultSetBody } },
} as const satisfies Record<string, ResponseSpec>;

export type ResponseKey = keyof typeof responses;

export function isRawBody(b: z.ZodType | RawBody | undefined): b is RawBody {
  return typeof b === 'object' && b !== null && 'raw' in b;
}

/** The spec of one route; undefined for a key that is not in the table. */
export function responseSpec(key: string): ResponseSpec | undefined {
  return Object.prototype.hasOwnProperty.call(responses, key) ? (responses as Record<string, ResponseSpec>)[key] : undefined;
}

/** The schema a body of route `key` with `status` must match: the route's for its success statuses, `errorBody` for any other. */
export function responseSchemaFor(key: string, status: number): z.ZodType | RawBody | undefined {
  const spec = responseSpec(key);
  if (!spec) return undefined;
  return spec.ok[status] ?? (status >= 400 ? errorBody : undefined);
}
