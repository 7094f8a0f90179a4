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
import { errorBody, messageBody, profileBody, sessionBody } from './common-bodies.js';
import { chunkPutBody, deletedBody, downloadLinkBody, fileDetailBody, fileEnvelope, fileListBody, manifestBody, uploadSessionEnvelope, versionsBody } from './file-bodies.js';
import { auditPageBody, controllerHealthBody, criticalKeyAddedBody, criticalKeyRemovedBody, criticalKeysBody, faultSetBody, faultsBody, hintAck, historyBody, modeBody, overrideAck, overrideClearedBody, serviceHealthBody, statusBody } from './controller-bodies.js';

export * from './common-bodies.js';
export * from './file-bodies.js';
export * from './controller-bodies.js';

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
  'DELETE /api/v1/files/{id}': { summary: 'Move a file to the bin (published); with ?permanent=true, delete a file in the bin for good.', ok: { 200: deletedBody } },
  'GET /api/v1/files/{id}/download': {
    summary: "The file's bytes (published); Range, If-Range and If-None-Match supported.",
    ok: { 200: bytes, 206: bytes, 304: { raw: 'empty', description: 'Not modified (If-None-Match matched).' } },
  },
  'POST /api/v1/files/{id}/download-link': {
    summary: 'A signed link to the streamed download, good for 60 s, for clients that hand the download to a browser or another program.',
    ok: { 200: downloadLinkBody },
  },
  'GET /api/v1/files/{id}/manifest': { summary: 'Chunk list with presigned URLs, for parallel or very large downloads.', ok: { 200: manifestBody } },
  'GET /api/v1/files/{id}/versions': { summary: "A file's versions, newest first.", ok: { 200: versionsBody } },
  'POST /api/v1/files/{id}/restore': { summary: 'Restore a file from the bin.', ok: { 200: fileEnvelope } },
  'POST /api/v1/files/{id}/versions/{version}/restore': {
    summary: "Make an earlier version's content current again, as a new version (the history is kept; the quota applies).",
    ok: { 200: fileEnvelope },
  },
  'POST /api/v1/files/{id}/rename': { summary: 'Rename a file (JSON body {name}); 409 when another file has the name.', ok: { 200: fileEnvelope } },
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
  'GET /v1/history': { summary: "The controller's samples and timeline events (mode changes, overrides, faults) of a window of at most 24 h (admin).", ok: { 200: historyBody } },
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
