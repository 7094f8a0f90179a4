/**
 * The request side of the wire: for every route in the route table (shared/routes.ts), the
 * schemas of its path parameters, query string and JSON body, keyed by route key exactly like the
 * table ("GET /api/v1/files/{id}"). createApiHandler (shared/http.ts) validates each request
 * against its entry before the handler runs, so a bad id, hash, name, email or media type is a
 * 400 naming the field, never a query that fails in the catalog. Handlers read the parsed values
 * with `inputOf(req, key)`. Bodies of binary routes (multipart uploads, chunk bytes) are checked by
 * their handlers; their path parameters and query strings are checked here.
 *
 * Response schemas belong beside these (shared/wire/), so the OpenAPI document can be generated
 * from this folder alone.
 */
import { z } from 'zod';
import { changePasswordSchema, loginSchema, registerSchema } from '../auth/schemas.js';
import { MAX_LIST_PAGE } from '../responses.js';
import { idempotencyHeaders } from './idempotency-header.js';
import { fileName, mediaType, noControlChars, positiveIntParam, sha256Hex, text, uuid } from './fields.js';

export interface RequestSchema {
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** The headers a route reads beyond auth, by lower-case name (a 400 names the header). */
  headers?: z.ZodType;
}

/** Largest integer a size may be (bigint columns, JSON numbers that stay exact). */
const MAX_SIZE = Number.MAX_SAFE_INTEGER;
/** Largest version number (an integer column). */
const MAX_VERSION = 2 ** 31 - 1;

const idParams = z.object({ id: uuid });

/**
 * X-EchoFS-Admin-Token: the admin bootstrap token (shared/auth/admin-token.ts), on register (for
 * an address of the admin list) and on the admin claim. Optional here; the auth service decides
 * whether it is needed. An empty value is no token.
 */
export const adminTokenHeaders = z.object({
  'x-echofs-admin-token': z
    .string()
    .max(1024, { message: 'must be at most 1024 characters' })
    .refine(...noControlChars)
    .transform((s) => s.trim() || undefined)
    .optional(),
});
const versionQuery = z.object({
  version: positiveIntParam.refine((n) => n <= MAX_VERSION, { message: `must be at most ${MAX_VERSION}` }).optional(),
});

/** Consistency modes by letter or name, case-insensitive. */
const MODE_ALIASES: Record<string, 'C' | 'H' | 'A'> = { c: 'C', h: 'H', a: 'A', strong: 'C', hybrid: 'H', available: 'A' };
export const modeSchema = z.string().transform((v, ctx) => {
  const m = MODE_ALIASES[v.trim().toLowerCase()];
  if (!m) {
    ctx.addIssue({ code: 'custom', message: "must be 'C', 'H' or 'A' (or strong, hybrid, available)" });
    return z.NEVER;
  }
  return m;
}).meta({ description: "C, H or A (or strong, hybrid, available), case-insensitive." });

/** A controller object key (the name a file is written under). */
export const objectId = z.string().trim().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters').pipe(text);

const criticalKeyFields = z.object({ key: objectId.optional(), object_id: objectId.optional() });

export const createSessionBody = z.object({
  name: fileName,
  size: z.number().int().nonnegative().max(MAX_SIZE),
  sha256: sha256Hex,
  content_type: mediaType.optional(),
  chunks: z.array(z.object({ hash: sha256Hex, size: z.number().int().positive().max(MAX_SIZE) })).max(10_000_000),
});

export const faultBody = z.object({
  region: z.string().min(1).max(64).pipe(text),
  state: z.enum(['up', 'blackhole', 'refuse']),
  latency_ms: z.number().int().min(0).max(600_000).optional(),
  jitter_ms: z.number().int().min(0).max(600_000).optional(),
  loss: z.number().min(0).max(1).optional(),
});

export const requests = {
  // auth
  'POST /api/v1/auth/register': { body: registerSchema, headers: adminTokenHeaders },
  'POST /api/v1/auth/login': { body: loginSchema },
  'GET /api/v1/auth/profile': {},
  'GET /api/v1/auth/me': {},
  'POST /api/v1/auth/password': { body: changePasswordSchema },
  'POST /api/v1/auth/logout': {},
  'POST /api/v1/auth/admin/claim': { headers: adminTokenHeaders },
  // health
  'GET /api/v1/health': {},
  'GET /api/v1/openapi.json': {},
  // files
  'POST /api/v1/files/upload': { headers: idempotencyHeaders },
  'GET /api/v1/files': {
    query: z.object({
      deleted: z.enum(['true', 'false']).optional(),
      limit: positiveIntParam.refine((n) => n <= MAX_LIST_PAGE, { message: `must be at most ${MAX_LIST_PAGE} (the largest page)` }).optional(),
      cursor: z.string().max(2048).pipe(text).optional(),
      name: z.string().min(1).max(1024).pipe(text).optional(),
    }),
  },
  'GET /api/v1/files/{id}': { params: idParams },
  'DELETE /api/v1/files/{id}': {
    params: idParams,
    headers: idempotencyHeaders,
    query: z.object({ permanent: z.enum(['true', 'false']).optional().meta({ description: 'true: delete a file in the bin for good (it cannot be restored).' }) }),
  },
  'GET /api/v1/files/{id}/download': {
    params: idParams,
    query: versionQuery.extend({
      link: z
        .string()
        .min(1)
        .max(4096)
        .optional()
        .meta({ description: 'A signed download link from POST /api/v1/files/{id}/download-link, in place of the bearer token (this file and version only).' }),
    }),
  },
  'POST /api/v1/files/{id}/download-link': {
    params: idParams,
    query: versionQuery,
    body: z.object({ version: z.number().int().min(1).max(MAX_VERSION).optional().meta({ description: 'The version to link to (default: the current one at download time).' }) }),
  },
  'GET /api/v1/files/{id}/manifest': { params: idParams, query: versionQuery },
  'GET /api/v1/files/{id}/versions': { params: idParams },
  'POST /api/v1/files/{id}/restore': { params: idParams },
  'POST /api/v1/files/{id}/versions/{version}/restore': {
    params: z.object({ id: uuid, version: positiveIntParam.refine((n) => n <= MAX_VERSION, { message: `must be at most ${MAX_VERSION}` }) }),
  },
  'POST /api/v1/files/{id}/rename': { params: idParams, body: z.object({ name: fileName }) },
  // chunk sessions
  'POST /api/v1/uploads': { body: createSessionBody, headers: idempotencyHeaders },
  'GET /api/v1/uploads/{id}': { params: idParams },
  'PUT /api/v1/uploads/{id}/chunks/{hash}': { params: z.object({ id: uuid, hash: sha256Hex }) },
  'POST /api/v1/uploads/{id}/commit': { params: idParams, headers: idempotencyHeaders },
  'DELETE /api/v1/uploads/{id}': { params: idParams, headers: idempotencyHeaders },
  // consistency controller
  'GET /v1/mode': { query: z.object({ object_id: objectId.optional() }) },
  'POST /v1/hint': { body: z.object({ object_id: objectId, hint: z.enum(['strong', 'available', 'none']) }) },
  'POST /v1/override': { body: z.object({ mode: modeSchema, object_id: objectId.optional() }) },
  'DELETE /v1/override': { query: z.object({ object_id: objectId.optional() }) },
  'GET /v1/critical-keys': {},
  'POST /v1/critical-keys': {
    body: criticalKeyFields.refine((b) => (b.key ?? b.object_id) !== undefined, { message: "send 'key' (or 'object_id')", path: ['key'] }),
  },
  // The key may come in the query string or in an (optional) JSON body.
  'DELETE /v1/critical-keys': { query: criticalKeyFields, body: criticalKeyFields },
  'GET /v1/health': {},
  'GET /v1/status': {},
  'GET /v1/audit': {
    query: z.object({
      limit: positiveIntParam.refine((n) => n <= 500, { message: 'must be at most 500' }).optional(),
      cursor: z.string().max(512).pipe(text).optional(),
    }),
  },
  // Times are epoch ms or ISO 8601; the window's rules (order, 24 h cap) are checked in shared/controller/history.ts.
  'GET /v1/history': {
    query: z.object({
      from: z.string().max(40).pipe(text).optional(),
      to: z.string().max(40).pipe(text).optional(),
    }),
  },
  'GET /health': {},
  'GET /status': {},
  // local fault injection
  'GET /api/v1/local/faults': {},
  'POST /api/v1/local/faults': { body: faultBody },
} as const satisfies Record<string, RequestSchema>;

export type RequestKey = keyof typeof requests;

type Out<S, F extends keyof RequestSchema> = S extends { [k in F]: infer T extends z.ZodType } ? z.output<T> : Record<string, never>;

/** The parsed request of route K, as its handler sees it. */
export interface RequestInput<K extends RequestKey> {
  params: Out<(typeof requests)[K], 'params'>;
  query: Out<(typeof requests)[K], 'query'>;
  body: Out<(typeof requests)[K], 'body'>;
  headers: Out<(typeof requests)[K], 'headers'>;
}

/** The schemas of one route; undefined for a key that is not in the table. */
export function requestSchema(key: string): RequestSchema | undefined {
  return Object.prototype.hasOwnProperty.call(requests, key) ? (requests as Record<string, RequestSchema>)[key] : undefined;
}
