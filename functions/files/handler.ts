/**
 * The files function: uploads (single request and chunk sessions), listing, downloads (streamed,
 * ranged), manifests, versions, delete/restore, and the system health check. Thin: validate the
 * request, call the storage engine, shape the response (the original API's shapes, extended).
 */
import type { Context } from 'aws-lambda';
import busboy from 'busboy';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BadRequest, HttpError } from '#shared/errors.js';
import { mediaType } from '#shared/wire/fields.js';
import { errorResult, inputOf, json, type ApiRequest, type ApiResult, type AuthUser } from '#shared/http.js';
import { createApiHandler, type ApiEvent } from '#functions/_lib/api.js';
import { DOWNLOAD_TOKEN_HEADER, DOWNLOAD_TOO_LARGE, manifestPath, STREAM_MAX_BYTES } from '#shared/downloads.js';
import { serviceHealthView, type ServiceHealth } from '#shared/health-views.js';
import { logger, metrics } from '#shared/observability.js';
import { matchRoute, routeKey } from '#shared/routes.js';
import type { Services } from '#shared/runtime.js';
import { coldStarted } from '#functions/_lib/cold-start.js';
import { IdempotencyStore } from '#shared/idempotency.js';
import { resolveRange, type StorageEngine } from '#shared/storage/engine.js';
import { decodeListCursor, deletedBody, encodeListCursor, fileBody as fileJson, fileListBody, MAX_LIST_PAGE, replicaSummaryBody, sessionInfoBody as sessionJson, versionBody as versionJson } from '#shared/responses.js';
import type { ModeDecision } from '#shared/storage/ports.js';
import type * as W from '#shared/wire/responses.js';
import { openApiDocument } from '#shared/wire/openapi.js';

export interface FilesDeps {
  storage: StorageEngine;
  authenticator: Services['authenticator'];
  catalog: Pick<Services['catalog'], 'ping'>;
  /** Optional controller store check for /health. */
  controllerPing?: () => Promise<void>;
  /** Resolves once the replicator kicks this request sent were accepted (awaited before each response). */
  kicksSent?: () => Promise<void>;
  /** Idempotency-Key records (the catalog); the routes flagged idempotent use them. */
  idempotency?: IdempotencyStore;
  /**
   * Most bytes the streamed download route carries (STREAM_MAX_BYTES in the cloud, where it is a
   * Function URL; none locally): a download link to a larger file is refused up front with 413
   * `download_too_large`, rather than ending the browser's download in that error.
   */
  streamLimit?: number;
  /** How long files stay in the bin (shown with the bin's listing); 0 keeps them until deleted forever. */
  trashRetentionSeconds?: number;
}

function owner(req: ApiRequest): AuthUser {
  if (!req.user) throw new Error('files route reached without an authenticated user');
  return req.user;
}

/** If-Match carries a version number: `3`, `"3"`, or a download ETag `"<sha256>.3"`. */
export function parseIfMatch(h: string | undefined): number | undefined {
  if (h === undefined || h.trim() === '') return undefined;
  const m = /^(?:W\/)?"?(?:[0-9a-f]{64}\.)?(\d+)"?$/.exec(h.trim());
  if (!m) throw new BadRequest('If-Match must be a version number (e.g. If-Match: 3) or an ETag from a download.', 'invalid_if_match');
  return Number(m[1]);
}

/** RFC 6266 Content-Disposition: an ASCII fallback and the exact UTF-8 name in filename*. */
export function contentDisposition(name: string, disposition: 'attachment' | 'inline' = 'attachment'): string {
  const fallback = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\%;]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${disposition}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

/**
 * Parse a multipart/form-data body and hand the `file` part to `onFile` as a stream.
 * A `name` field sent before the file overrides the part's filename.
 *
 * Every way the body can be bad ends in a 4xx, never in an unhandled stream error: the file stream
 * always has an 'error' listener (busboy destroys it on a truncated body), a file over the limit is
 * cut one byte past it and refused by the engine (413), and the answer waits for `onFile` to
 * settle, so no write outlives the request.
 */
function withMultipartFile<T>(req: ApiRequest, maxBytes: number, onFile: (file: { name: string; contentType: string; stream: AsyncIterable<Uint8Array> }) => Promise<T>): Promise<T> {
  const contentType = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(contentType)) {
    throw new BadRequest("Upload as multipart/form-data with the file in a field named 'file' (or use chunk sessions: POST /api/v1/uploads).", 'invalid_content_type');
  }
  const malformed = () => new BadRequest('Malformed multipart body: it must be multipart/form-data with a boundary parameter and end with its closing boundary.', 'invalid_multipart');
  return new Promise<T>((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: { 'content-type': contentType }, limits: { files: 1, fileSize: maxBytes + 1, fields: 10, fieldSize: 4096 }, defParamCharset: 'utf8' });
    } catch {
      reject(malformed());
      return;
    }
    let fieldName: string | undefined;
    let work: Promise<T> | undefined;
    /** What ended the file stream early: the size limit (an HttpError) or a malformed body. */
    let streamError: unknown;
    let settled = false;
    const settle = (bodyError: boolean) => {
      if (settled) return;
      settled = true;
      if (!work) {
        reject(bodyError ? malformed() : new BadRequest("No file in the upload: send it in a multipart field named 'file'.", 'missing_file'));
        return;
      }
      work.then(
        (v) => (bodyError ? reject(malformed()) : resolve(v)),
        (err: unknown) => {
          if (streamError instanceof HttpError) reject(streamError);
          else if (streamError !== undefined || bodyError) reject(malformed());
          else reject(err);
        },
      );
    };
    bb.on('field', (name, value) => {
      if (name === 'name') fieldName = value;
    });
    bb.on('file', (field, stream, info) => {
      // A destroyed file stream never ends, so busboy never closes: answer as soon as the work
      // that reads it has settled.
      stream.on('error', (err) => {
        streamError ??= err;
        settle(!(err instanceof HttpError));
      });
      if (field !== 'file' || work) {
        stream.resume();
        return;
      }
      // Past maxBytes + 1 busboy truncates the part and ends it: the engine, having counted one
      // byte too many, refuses the file with 413 file_too_large.
      const partType = info.mimeType || 'application/octet-stream';
      const checked = mediaType.safeParse(partType);
      if (!checked.success) {
        stream.resume();
        work = Promise.reject(new BadRequest(`Field 'content_type' is invalid: the file part's Content-Type must be a media type such as text/plain.`, 'invalid_field', { field: 'content_type' }));
        work.catch(() => undefined);
        return;
      }
      work = onFile({ name: fieldName ?? info.filename ?? '', contentType: checked.data, stream });
      // Drain whatever the engine did not read (e.g. after a validation error), so parsing ends.
      work.catch(() => stream.resume());
    });
    bb.on('error', () => settle(true));
    bb.on('close', () => settle(false));
    try {
      bb.end(req.rawBody());
    } catch {
      settle(true);
    }
  });
}

export function createHandler(deps: FilesDeps | Services) {
  const d: FilesDeps = 'storage' in deps && !('config' in deps) ? deps : fromServices(deps as Services);
  const { storage } = d;
  const decisions = new WeakMap<ApiRequest, ModeDecision>();
  const decide = async (req: ApiRequest, name?: string) => {
    const decision = await storage.decide(owner(req).id, name);
    decisions.set(req, decision);
    return decision;
  };

  return createApiHandler(
    'files',
    {
      'GET /api/v1/health': async (req) => {
        let catalogOk = true;
        let catalogError: string | undefined;
        try {
          await d.catalog.ping();
        } catch (err) {
          catalogOk = false;
          catalogError = 'catalog unreachable';
          logger.warn('health: catalog unreachable', { requestId: req.requestId, error: err as Error });
        }
        const replicas = await storage.replicaHealth();
        for (const [region, r] of Object.entries(replicas)) {
          if (!r.ok) logger.warn('health: replica unreachable', { requestId: req.requestId, region, detail: r.error });
        }
        let controller: { ok: boolean; error?: string } | undefined;
        if (d.controllerPing) {
          try {
            await d.controllerPing();
            controller = { ok: true };
          } catch (err) {
            controller = { ok: false, error: (err as Error).message };
            logger.warn('health: controller store unreachable', { requestId: req.requestId, error: err as Error });
          }
        }
        const reachable = Object.values(replicas).filter((r) => r.ok).length;
        const status = !catalogOk || reachable === 0 ? 'down' : reachable < storage.regions.length || controller?.ok === false ? 'degraded' : 'ok';
        const full: ServiceHealth = {
          success: catalogOk,
          status,
          catalog: { ok: catalogOk, ...(catalogError ? { error: catalogError } : {}) },
          replicas,
          quorum: storage.quorum,
          ...(controller ? { controller } : {}),
        };
        return json(catalogOk ? 200 : 503, serviceHealthView(full, req.user?.role));
      },

      'GET /api/v1/openapi.json': async () => json(200, openApiDocument(), { 'Cache-Control': 'public, max-age=300' }),

      'POST /api/v1/files/upload': async (req) => {
        const user = owner(req);
        const ifMatch = parseIfMatch(req.headers['if-match']);
        const f = await withMultipartFile(req, storage.config.maxFileBytes, async (file) => {
          await decide(req, file.name);
          return storage.uploadStream(user.id, { name: file.name, contentType: file.contentType, ifMatch }, file.stream);
        });
        // The mode the write was acknowledged under (it may have finished under another one).
        decisions.set(req, { mode: f.mode, reason: 'write' });
        return json(201, { success: true, data: fileJson(f) } satisfies W.FileEnvelope);
      },

      'GET /api/v1/files': async (req) => {
        const q = inputOf(req, 'GET /api/v1/files').query;
        const limit = q.limit ?? MAX_LIST_PAGE;
        const after = q.cursor === undefined ? undefined : decodeListCursor(q.cursor);
        // One more than the page tells whether another page follows.
        const rows = await storage.listFiles(owner(req).id, { deleted: q.deleted === 'true', limit: limit + 1, after, name: q.name });
        const page = rows.slice(0, limit);
        const last = page[page.length - 1];
        const nextCursor = rows.length > limit && last ? encodeListCursor({ name: last.name, id: last.fileId }) : null;
        const body = fileListBody(page, { nextCursor, limit });
        return json(200, q.deleted === 'true' ? { ...body, trash_retention_seconds: d.trashRetentionSeconds ?? 0 } : body);
      },

      'GET /api/v1/files/{id}': async (req) => {
        const f = await storage.getFile(owner(req).id, inputOf(req, 'GET /api/v1/files/{id}').params.id);
        return json(200, {
          success: true,
          data: {
            ...fileJson(f),
            versions: f.versions.map(versionJson),
            replicas: replicaSummaryBody(f.replicas),
            placements: f.placements.map((p) => ({ index: p.index, hash: p.hash, size: p.size, compressed: p.compressed, regions: p.regions })),
            placements_truncated: f.placementsTruncated,
          },
        } satisfies W.FileDetailBody);
      },

      'GET /api/v1/files/{id}/download': async (req) => {
        const user = owner(req);
        const { params, query } = inputOf(req, 'GET /api/v1/files/{id}/download');
        // Resolved once: the checks below and the read that follows use the same version row.
        const read = await storage.prepareRead(user.id, params.id, query.version);
        const info = read.file;
        // The mode reported with the answer is also the one the read hedges by.
        const decision = await decide(req, info.name);
        const etag = read.etag;
        const common = {
          ETag: etag,
          'Accept-Ranges': 'bytes',
          'Cache-Control': 'private, no-cache',
          'Content-Disposition': contentDisposition(info.name),
          'X-Content-Type-Options': 'nosniff',
          'X-EchoFS-Version': String(info.version),
        };
        if (req.headers['if-none-match'] === etag) return { statusCode: 304, headers: common };
        const ifRange = req.headers['if-range'];
        const range = ifRange && ifRange !== etag ? undefined : resolveRange(req.headers['range'], info.size);
        const opened = await read.open({ ...(range ? { range } : {}), decision });
        const headers: Record<string, string> = { ...common, 'Content-Type': info.contentType, 'Content-Length': String(opened.length) };
        if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${info.size}`;
        return { statusCode: range ? 206 : 200, headers, stream: opened.stream };
      },

      'POST /api/v1/files/{id}/download-link': async (req) => {
        const user = owner(req);
        const { params, query, body } = inputOf(req, 'POST /api/v1/files/{id}/download-link');
        const version = body.version ?? query.version;
        const info = await storage.getFileInfo(user.id, params.id, version);
        if (d.streamLimit !== undefined && info.size > d.streamLimit) {
          const manifest = manifestPath(info.fileId, version);
          throw new HttpError(
            413,
            DOWNLOAD_TOO_LARGE,
            `This file is ${info.size} bytes; a download link carries at most ${d.streamLimit} bytes. Fetch it chunk by chunk from the presigned URLs of GET ${manifest}.`,
            {},
            { manifest, limit: d.streamLimit },
          );
        }
        if (!d.authenticator.signLink) throw new Error('the files function has no download link signer');
        const link = await d.authenticator.signLink(user, info.fileId, version);
        const search = new URLSearchParams({ ...(version !== undefined ? { version: String(version) } : {}), link: link.token });
        logger.info('download link issued', { userId: user.id, fileId: info.fileId, version, expiresInSeconds: link.expiresInSeconds });
        return json(200, {
          success: true,
          data: { url: `/api/v1/files/${encodeURIComponent(info.fileId)}/download?${search}`, expires_at: link.expiresAt.toISOString(), expires_in_seconds: link.expiresInSeconds },
        } satisfies W.DownloadLinkBody);
      },

      'GET /api/v1/files/{id}/manifest': async (req) => {
        const { params, query } = inputOf(req, 'GET /api/v1/files/{id}/manifest');
        const m = await storage.manifest(owner(req).id, params.id, query.version);
        return json(200, {
          success: true,
          data: {
            ...fileJson(m.file),
            chunk_size: m.chunkSize,
            expires_in: m.expiresInSeconds,
            encoding:
              'Each URL returns one stored chunk: a 1-byte header (0 = raw, 1 = deflate-raw) then the chunk bytes; the decoded chunk must hash (SHA-256) to its hash.',
            chunks: m.chunks.map((c) => ({ index: c.index, hash: c.hash, size: c.size, offset: c.offset, compressed: c.compressed, region: c.region, url: c.url })),
          },
        } satisfies W.ManifestBody);
      },

      'GET /api/v1/files/{id}/versions': async (req) => {
        const { id } = inputOf(req, 'GET /api/v1/files/{id}/versions').params;
        const versions = await storage.listVersions(owner(req).id, id);
        return json(200, { success: true, data: { file_id: id, versions: versions.map(versionJson) } } satisfies W.VersionsBody);
      },

      'DELETE /api/v1/files/{id}': async (req) => {
        const { params, query } = inputOf(req, 'DELETE /api/v1/files/{id}');
        const permanent = query.permanent === 'true';
        if (permanent) await storage.deleteForever(owner(req).id, params.id);
        else await storage.softDelete(owner(req).id, params.id);
        return json(200, deletedBody(params.id, permanent));
      },

      'POST /api/v1/files/{id}/restore': async (req) => {
        const f = await storage.restore(owner(req).id, inputOf(req, 'POST /api/v1/files/{id}/restore').params.id);
        return json(200, { success: true, data: fileJson(f) } satisfies W.FileEnvelope);
      },

      'POST /api/v1/files/{id}/versions/{version}/restore': async (req) => {
        const { id, version } = inputOf(req, 'POST /api/v1/files/{id}/versions/{version}/restore').params;
        const f = await storage.restoreVersion(owner(req).id, id, version);
        decisions.set(req, { mode: f.mode, reason: 'write' });
        return json(200, { success: true, data: fileJson(f) } satisfies W.FileEnvelope);
      },

      'POST /api/v1/files/{id}/rename': async (req) => {
        const { params, body } = inputOf(req, 'POST /api/v1/files/{id}/rename');
        const f = await storage.renameFile(owner(req).id, params.id, body.name);
        return json(200, { success: true, data: fileJson(f) } satisfies W.FileEnvelope);
      },

      'POST /api/v1/uploads': async (req) => {
        const { body } = inputOf(req, 'POST /api/v1/uploads');
        await decide(req, body.name);
        const s = await storage.createSession(owner(req).id, { name: body.name, size: body.size, sha256: body.sha256, contentType: body.content_type, chunks: body.chunks });
        return json(201, { success: true, data: sessionJson(s) } satisfies W.UploadSessionEnvelope);
      },

      'GET /api/v1/uploads/{id}': async (req) => {
        const s = await storage.getSession(owner(req).id, inputOf(req, 'GET /api/v1/uploads/{id}').params.id);
        return json(200, { success: true, data: sessionJson(s) } satisfies W.UploadSessionEnvelope);
      },

      'PUT /api/v1/uploads/{id}/chunks/{hash}': async (req) => {
        const { id, hash } = inputOf(req, 'PUT /api/v1/uploads/{id}/chunks/{hash}').params;
        const r = await storage.putSessionChunk(owner(req).id, id, hash, req.rawBody());
        decisions.set(req, { mode: r.mode, reason: 'write' });
        return json(200, { success: true, data: { hash: r.hash, size: r.size, stored: true, deduped: r.deduped, compressed: r.compressed, acked: r.acked, pending: r.pending, mode: r.mode, degraded: r.degraded } } satisfies W.ChunkPutBody);
      },

      'POST /api/v1/uploads/{id}/commit': async (req) => {
        const f = await storage.commitSession(owner(req).id, inputOf(req, 'POST /api/v1/uploads/{id}/commit').params.id, parseIfMatch(req.headers['if-match']));
        return json(200, { success: true, data: fileJson(f) } satisfies W.FileEnvelope);
      },

      'DELETE /api/v1/uploads/{id}': async (req) => {
        await storage.abortSession(owner(req).id, inputOf(req, 'DELETE /api/v1/uploads/{id}').params.id);
        return json(200, { success: true, message: 'Upload session cancelled.' } satisfies W.MessageBody);
      },
    },
    {
      authenticator: d.authenticator,
      idempotency: d.idempotency,
      decorate: async (req, result) => {
        // Lambda freezes the container as soon as the response is sent: a kick still in flight
        // would never reach the replicator.
        await d.kicksSent?.();
        let decision = req ? decisions.get(req) : undefined;
        if (!decision) {
          try {
            decision = await storage.decide(req?.user?.id ?? 'anonymous');
          } catch {
            decision = { mode: storage.config.mode, reason: 'mode source unavailable' };
          }
        }
        result.headers = { ...(result.headers ?? {}), 'X-EchoFS-Mode': decision.mode };
        // The data path's counters (chunks written, deduped, bad copies…) leave as one EMF line per request.
        if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      },
    },
  );
}

function fromServices(s: Services): FilesDeps {
  const storage = (s as Services & { storage?: StorageEngine }).storage;
  if (!storage) throw new Error('the files function needs services.storage (shared/runtime.ts buildServices)');
  const controller = (s as Services & { controller?: { store?: { ping?: () => Promise<void> } } }).controller;
  const ping = controller?.store?.ping?.bind(controller.store);
  // The replicator kick after a write is an async invoke: keep its promise, so the response waits
  // until Lambda has accepted it (the trigger never rejects).
  const kicks = new Set<Promise<void>>();
  storage.setBacklogHook(() => {
    const p = s.replication?.kick();
    if (!p) return;
    kicks.add(p);
    void p.finally(() => kicks.delete(p));
  });
  const kicksSent = async () => {
    while (kicks.size > 0) await Promise.all([...kicks]);
  };
  return { storage, authenticator: s.authenticator, catalog: s.catalog, controllerPing: ping, kicksSent, idempotency: new IdempotencyStore(s.catalog.db), trashRetentionSeconds: s.config.trashRetentionSeconds, ...(s.config.stage === 'cloud' ? { streamLimit: STREAM_MAX_BYTES } : {}) };
}

// ---------------------------------------------------------------- Lambda entry points

/** Largest body a buffered Lambda response carries (6 MB payload, base64 grows by 4/3). */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

const started = coldStarted('files', createHandler);

/** Turn a streamed result into a buffered (base64) one, or a 413 that points to the manifest. */
export async function bufferResult(result: ApiResult, limit = MAX_BUFFERED_BYTES): Promise<ApiResult> {
  if (!result.stream) return result;
  const stream = result.stream;
  const declared = Number(result.headers?.['Content-Length'] ?? NaN);
  const tooLarge = () =>
    json(
      413,
      {
        success: false,
        error: {
          code: 'response_too_large',
          message: `This download is larger than ${limit} bytes, the most one buffered response carries. Fetch it with GET /api/v1/files/{id}/manifest (presigned chunk URLs), with Range requests of at most ${limit} bytes, or through the streaming endpoint.`,
        },
      },
      { 'X-EchoFS-Mode': result.headers?.['X-EchoFS-Mode'] ?? '' },
    );
  if (Number.isFinite(declared) && declared > limit) {
    stream.destroy();
    return tooLarge();
  }
  const parts: Buffer[] = [];
  let n = 0;
  for await (const p of stream) {
    const b = Buffer.isBuffer(p) ? p : Buffer.from(p as Uint8Array);
    n += b.length;
    if (n > limit) {
      stream.destroy();
      return tooLarge();
    }
    parts.push(b);
  }
  const { stream: _s, ...rest } = result;
  void _s;
  return { ...rest, body: Buffer.concat(parts).toString('base64'), isBase64Encoded: true };
}

/** API Gateway (buffered) entry point. */
export async function handler(event: ApiEvent, context: Context): Promise<ApiResult> {
  return started.run(event, context, async (h) => bufferResult(await h(event, context)));
}

// Lambda's response streaming globals, present only inside the Node.js Lambda runtime.
interface ResponseStream extends Writable {
  setContentType?(type: string): void;
}
interface AwsLambdaGlobal {
  streamifyResponse(fn: (event: ApiEvent, stream: ResponseStream, context: Context) => Promise<void>): unknown;
  HttpResponseStream: { from(stream: ResponseStream, meta: { statusCode: number; headers: Record<string, string> }): ResponseStream };
}
// Other libraries may define a partial `awslambda` global: require the streaming API itself.
const lambdaGlobal = (globalThis as { awslambda?: Partial<AwsLambdaGlobal> }).awslambda;
const awslambda: AwsLambdaGlobal | undefined =
  typeof lambdaGlobal?.streamifyResponse === 'function' && lambdaGlobal.HttpResponseStream ? (lambdaGlobal as AwsLambdaGlobal) : undefined;

/** A Function URL event carries routeKey "$default": find the route from the method and path. */
export function routeFunctionUrlEvent(event: ApiEvent): ApiEvent {
  if (event.routeKey && event.routeKey !== '$default') return event;
  const method = event.requestContext?.http?.method ?? 'GET';
  const m = matchRoute(method, event.rawPath ?? '/');
  if (!m) return event;
  return { ...event, routeKey: routeKey(m.route), pathParameters: m.pathParameters };
}

/**
 * A Function URL event as the API handler expects it: routed, with the user's bearer token taken
 * from X-EchoFS-Authorization. Behind CloudFront's origin access control the Authorization header
 * carries CloudFront's SigV4 signature, never a user's token, so it is dropped.
 */
export function functionUrlRequest(event: ApiEvent): ApiEvent {
  const routed = routeFunctionUrlEvent(event);
  const headers: Record<string, string> = {};
  let token: string | undefined;
  for (const [name, value] of Object.entries(routed.headers ?? {})) {
    if (value === undefined) continue;
    const key = name.toLowerCase();
    if (key === DOWNLOAD_TOKEN_HEADER) token = value;
    else if (key !== 'authorization') headers[name] = value;
  }
  if (token !== undefined) headers.authorization = token;
  return { ...routed, headers };
}

/**
 * A streamed body larger than one Function URL response may carry (STREAM_MAX_BYTES) is refused
 * before its first byte with 413 `download_too_large`, which names the manifest to use instead.
 */
export function limitStream(result: ApiResult, fileId: string | undefined, limit = STREAM_MAX_BYTES): ApiResult {
  if (!result.stream) return result;
  const length = Number(result.headers?.['Content-Length'] ?? NaN);
  if (!Number.isFinite(length) || length <= limit) return result;
  result.stream.destroy();
  const manifest = fileId ? manifestPath(fileId) : '/api/v1/files/{id}/manifest';
  return json(
    413,
    {
      success: false,
      error: {
        code: DOWNLOAD_TOO_LARGE,
        message: `This download is ${length} bytes; one streamed response carries at most ${limit} bytes. Fetch the file chunk by chunk from the presigned URLs of GET ${manifest}, or in Range requests of at most ${limit} bytes.`,
        manifest,
        limit,
      },
    },
    {
      'X-EchoFS-Mode': result.headers?.['X-EchoFS-Mode'] ?? '',
      ...(result.headers?.['X-Request-Id'] ? { 'X-Request-Id': result.headers['X-Request-Id'] } : {}),
    },
  );
}

async function streamCore(event: ApiEvent, responseStream: ResponseStream, context: Context): Promise<void> {
  if (!awslambda) throw new Error('response streaming needs the Lambda Node.js runtime');
  let result: ApiResult;
  try {
    const request = functionUrlRequest(event);
    result = await started.run(request, context, async (h) => limitStream(await h(request, context), request.pathParameters?.id));
  } catch (err) {
    // A malformed path (bad percent-encoding) is the client's error; nothing else reaches here.
    if (!(err instanceof HttpError)) throw err;
    result = errorResult(err, event.requestContext?.requestId ?? context.awsRequestId);
  }
  const out = awslambda.HttpResponseStream.from(responseStream, { statusCode: result.statusCode, headers: result.headers ?? {} });
  const body = result.stream ?? Readable.from(result.body === undefined ? [] : [Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8')]);
  await pipeline(body, out);
}

/** Function URL entry point with response streaming (large downloads); undefined outside Lambda. */
export const streamHandler = awslambda ? awslambda.streamifyResponse(streamCore) : undefined;
