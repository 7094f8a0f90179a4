/**
 * The local API Gateway: a node:http request listener that matches each request against the one
 * route table, turns it into an API Gateway HTTP API v2 event plus a Lambda context, calls the
 * same middy handler Lambda would call, and writes its result back. Paths outside /api and /v1
 * are the web app (web/dist), with a fallback to index.html for client-side routes.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { matchRoute, pathExists, routeKey, routes as defaultRoutes, type FunctionName, type Route } from '#shared/routes.js';
import { RAW_BODY, type ApiResult } from '#shared/http.js';
import { HttpError } from '#shared/errors.js';
import { LOCAL_SECURITY_HEADERS } from '#shared/security-headers.js';
import { logger } from '#shared/observability.js';

export type LambdaHttpHandler = (event: APIGatewayProxyEventV2, context: Context) => Promise<ApiResult>;

export interface AdapterOptions {
  /** The handler of each function; a function may be missing (its routes then answer 501). Read on every request, so handlers can be added later. */
  handlers: Partial<Record<FunctionName, LambdaHttpHandler>>;
  /** Static web app directory (default: <repo>/web/dist). */
  webDir?: string;
  table?: readonly Route[];
  /** Body limit for JSON routes (default 1 MiB). */
  maxJsonBytes?: number;
  /** Body limit for binaryBody routes (default 16 MiB). */
  maxBinaryBytes?: number;
  /** What context.getRemainingTimeInMillis starts from (default 30 s, the API Gateway limit). */
  timeoutMs?: number;
}

/**
 * The project's root: the nearest folder above this module with a package.json. The same from the
 * sources (infra/local/) and from the start bundle (node_modules/.cache/echofs-local/, built by
 * infra/local/launch.mjs), where a fixed relative path would point into node_modules.
 */
function projectRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return resolve(start, '../..');
  }
}

export const DEFAULT_WEB_DIR = join(projectRoot(), 'web', 'dist');
const MiB = 1024 * 1024;

const TEXT_TYPES = /^(text\/|application\/(json|xml|javascript|x-www-form-urlencoded)|application\/[a-z0-9.+-]*\+(json|xml))/i;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

class BodyTooLarge extends Error {}

/** The client went away (reset, aborted) before its body was read: nobody is left to answer. */
class ClientAborted extends Error {
  constructor(cause?: unknown) {
    super('client aborted the request', { cause });
  }
}

/** The request an asynchronous error escaped from (see installCrashGuard). */
interface RequestScope {
  requestId: string;
  method?: string;
  url?: string;
  res: ServerResponse;
}
const scope = new AsyncLocalStorage<RequestScope>();

/** Answer a request whose handling failed unexpectedly: 500 with a code and the request id only. */
function answerInternalError(res: ServerResponse, requestId: string): void {
  if (res.headersSent || res.writableEnded || res.destroyed) {
    res.destroy();
    return;
  }
  errorJson(res, 500, 'internal_error', 'Internal error. Quote the request id when reporting it.', requestId);
}

let guardInstalled = false;

/**
 * Keep the local server up when an error escapes one request asynchronously (an 'error' event
 * nobody listens for, a rejected promise nobody awaits): log it with the request id, answer that
 * request 500 (code and request id only) if it is still open, and go on serving the others.
 * Errors from outside any request are logged; the process keeps running. Idempotent.
 */
export function installCrashGuard(): void {
  if (guardInstalled) return;
  guardInstalled = true;
  const onEscaped = (kind: string) => (err: unknown) => {
    const s = scope.getStore();
    logger.error('error escaped a request', { kind, requestId: s?.requestId, method: s?.method, url: s?.url, error: err instanceof Error ? err : new Error(String(err)) });
    if (s) answerInternalError(s.res, s.requestId);
  };
  process.on('uncaughtException', onEscaped('uncaughtException'));
  process.on('unhandledRejection', onEscaped('unhandledRejection'));
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

function errorJson(res: ServerResponse, status: number, code: string, message: string, requestId: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { success: false, error: { code, message, request_id: requestId } }, { 'X-Request-Id': requestId, ...headers });
}

/** Read the whole body; past the limit, reject and discard the rest so the 413 can still be read. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? '0');
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new BodyTooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (b: Buffer) => {
      if (over) return;
      size += b.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(b);
    });
    let ended = false;
    req.on('end', () => {
      ended = true;
      if (!over) resolve(Buffer.concat(chunks));
    });
    // A client that resets or aborts mid-body: the promise settles instead of hanging.
    req.on('error', (err) => {
      if (!over) reject(new ClientAborted(err));
    });
    req.on('close', () => {
      if (!over && !ended) reject(new ClientAborted());
    });
  });
}

function apiGatewayTime(d: Date): string {
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export interface EventInput {
  req: IncomingMessage;
  url: URL;
  route: Route;
  pathParameters: Record<string, string>;
  body: Buffer;
  requestId: string;
  now?: Date;
}

/** Build the API Gateway HTTP API v2 event API Gateway would send for this request. */
export function buildEvent(i: EventInput): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  let cookies: string[] | undefined;
  for (const [name, value] of Object.entries(i.req.headers)) {
    if (value === undefined) continue;
    const k = name.toLowerCase();
    if (k === 'cookie') {
      const all = (Array.isArray(value) ? value.join('; ') : value).split(/;\s*/).filter((c) => c.length > 0);
      if (all.length > 0) cookies = all;
      continue;
    }
    headers[k] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of i.url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  const contentType = headers['content-type'] ?? '';
  const binary = i.route.binaryBody === true || (contentType !== '' && !TEXT_TYPES.test(contentType));
  const now = i.now ?? new Date();
  const method = (i.req.method ?? 'GET').toUpperCase();
  const rawPath = i.url.pathname;
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey: routeKey(i.route),
    rawPath,
    rawQueryString: i.url.search.startsWith('?') ? i.url.search.slice(1) : '',
    headers,
    ...(cookies ? { cookies } : {}),
    ...(Object.keys(query).length > 0 ? { queryStringParameters: query } : {}),
    ...(Object.keys(i.pathParameters).length > 0 ? { pathParameters: i.pathParameters } : {}),
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers['host'] ?? 'localhost',
      domainPrefix: (headers['host'] ?? 'localhost').split('.')[0] ?? 'localhost',
      http: {
        method,
        path: rawPath,
        protocol: `HTTP/${i.req.httpVersion}`,
        sourceIp: i.req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: i.requestId,
      routeKey: routeKey(i.route),
      stage: '$default',
      time: apiGatewayTime(now),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: binary && i.body.length > 0,
    ...(i.body.length > 0 && !binary ? { body: i.body.toString('utf8') } : {}),
  };
  if (binary && i.body.length > 0) {
    // The handler reads the bytes themselves (rawBody); the base64 text API Gateway would send is
    // only made if something reads event.body (a 1 MiB chunk would otherwise be encoded and
    // decoded again on every request).
    const bytes = i.body;
    let text: string | undefined;
    Object.defineProperty(event, 'body', { enumerable: true, configurable: true, get: () => (text ??= bytes.toString('base64')), set: (v: string) => Object.defineProperty(event, 'body', { value: v, enumerable: true, configurable: true, writable: true }) });
    Object.defineProperty(event, RAW_BODY, { value: bytes, enumerable: false });
  }
  return event;
}

/** A Lambda context good enough for middy (its timeout guard needs getRemainingTimeInMillis). */
export function buildContext(fn: FunctionName, requestId: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const functionName = `echofs-local-${fn}`;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

async function writeResult(res: ServerResponse, result: ApiResult, requestId: string, head: boolean): Promise<void> {
  const headers: Record<string, string> = { ...(result.headers ?? {}) };
  if (!Object.keys(headers).some((k) => k.toLowerCase() === 'x-request-id')) headers['X-Request-Id'] = requestId;
  if (result.stream) {
    res.writeHead(result.statusCode, headers);
    if (head) {
      result.stream.destroy();
      res.end();
      return;
    }
    try {
      await pipeline(result.stream, res);
    } catch (err) {
      logger.warn('response stream failed', { requestId, error: err as Error });
      res.destroy();
    }
    return;
  }
  const body = result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  headers['Content-Length'] = String(body.length);
  res.writeHead(result.statusCode, headers);
  res.end(head ? undefined : body);
}

const NOT_BUILT = `<!doctype html><html><head><meta charset="utf-8"><title>EchoFS</title></head>
<body><h1>EchoFS</h1><p>The API is running, but the web app is not built.</p>
<p>Build it with <code>npm run build:web</code> and reload this page.</p></body></html>`;

async function fileAt(path: string): Promise<{ size: number; mtime: Date } | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? { size: s.size, mtime: s.mtime } : undefined;
  } catch {
    return undefined;
  }
}

async function serveStatic(req: IncomingMessage, res: ServerResponse, url: URL, webDir: string): Promise<void> {
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Method not allowed.\n');
    return;
  }
  let rel: string;
  try {
    rel = decodeURIComponent(url.pathname);
  } catch {
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Bad path.\n');
    return;
  }
  const root = resolve(webDir);
  let target = resolve(join(root, normalize(rel)));
  if (target !== root && !target.startsWith(root + sep)) target = root;
  let file = target === root ? undefined : await fileAt(target);
  let cache = target.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache';
  if (!file) {
    // Client-side routes fall back to the app shell; a missing asset with an extension is a 404.
    if (extname(rel) !== '' && extname(rel) !== '.html') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('Not found.\n');
      return;
    }
    target = join(root, 'index.html');
    file = await fileAt(target);
    cache = 'no-cache';
    if (!file) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': String(Buffer.byteLength(NOT_BUILT)) });
      res.end(method === 'HEAD' ? undefined : NOT_BUILT);
      return;
    }
  }
  res.writeHead(200, {
    'Content-Type': MIME[extname(target).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': String(file.size),
    'Cache-Control': cache,
    'Last-Modified': file.mtime.toUTCString(),
    'X-Content-Type-Options': 'nosniff',
  });
  if (method === 'HEAD') {
    res.end();
    return;
  }
  try {
    await pipeline(createReadStream(target), res);
  } catch (err) {
    // The client went away mid-file (a page left, a connection closed at once): its headers are
    // sent, so there is no other answer to give and nothing failed on this side.
    logger.debug('static file answer ended early', { path: rel, error: err as Error });
    res.destroy();
  }
}

function isApiPath(path: string): boolean {
  return path === '/api' || path.startsWith('/api/') || path === '/v1' || path.startsWith('/v1/');
}

/** The request listener of the local server. */
export function createAdapter(o: AdapterOptions): RequestListener {
  const table = o.table ?? defaultRoutes;
  const webDir = o.webDir ?? DEFAULT_WEB_DIR;
  const maxJson = o.maxJsonBytes ?? MiB;
  const maxBinary = o.maxBinaryBytes ?? 16 * MiB;
  const timeoutMs = o.timeoutMs ?? 30_000;

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      req.resume();
      errorJson(res, 400, 'invalid_path', 'The request target is not a valid path.', requestId);
      return;
    }
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    // Routes outside /api and /v1 (the controller's /health and /status) are API routes too.
    if (!isApiPath(path) && !pathExists(path, table)) {
      await serveStatic(req, res, url, webDir);
      return;
    }
    const method = (req.method ?? 'GET').toUpperCase();
    const head = method === 'HEAD';
    let match: ReturnType<typeof matchRoute>;
    try {
      match = matchRoute(head ? 'GET' : method, path, table);
    } catch (err) {
      req.resume();
      if (!(err instanceof HttpError)) throw err;
      errorJson(res, err.status, err.code, err.message, requestId, err.headers);
      return;
    }
    if (!match) {
      req.resume();
      if (pathExists(path, table)) {
        const allow = ['GET', 'POST', 'PUT', 'DELETE'].filter((m) => matchRoute(m, path, table)).join(', ');
        errorJson(res, 405, 'method_not_allowed', `Method ${method} is not allowed on ${path}; use ${allow}.`, requestId, { Allow: allow });
      } else {
        errorJson(res, 404, 'not_found', `No API route ${method} ${path}.`, requestId);
      }
      return;
    }
    const handler = o.handlers[match.route.fn];
    if (!handler) {
      req.resume();
      errorJson(res, 501, 'not_implemented', `The ${match.route.fn} function is not available in this build.`, requestId);
      return;
    }
    const limit = match.route.binaryBody ? maxBinary : maxJson;
    let body: Buffer;
    try {
      body = await readBody(req, limit);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        errorJson(res, 413, 'payload_too_large', `Request body too large: at most ${limit} bytes on ${routeKey(match.route)}.`, requestId, { Connection: 'close' });
        return;
      }
      if (err instanceof ClientAborted) {
        res.destroy();
        return;
      }
      throw err;
    }
    const event = buildEvent({ req, url, route: match.route, pathParameters: match.pathParameters, body, requestId });
    event.rawPath = url.pathname;
    const result = await handler(event, buildContext(match.route.fn, requestId, timeoutMs));
    if (!result || typeof result.statusCode !== 'number') throw new Error(`handler of ${match.route.fn} returned no result for ${event.routeKey}`);
    await writeResult(res, result, requestId, head);
  };

  return (req, res) => {
    const requestId = randomUUID();
    // A socket error (reset, write after close) is this request's end, never the process's.
    req.on('error', (err) => logger.debug('request stream error', { requestId, error: err }));
    res.on('error', (err) => logger.debug('response stream error', { requestId, error: err }));
    // The same security headers as CloudFront's policy, on every answer (pages and API JSON).
    for (const [name, value] of Object.entries(LOCAL_SECURITY_HEADERS)) res.setHeader(name, value);
    scope.run({ requestId, method: req.method, url: req.url, res }, () => {
      handle(req, res, requestId).catch((err: unknown) => {
        // A client error raised outside a handler (e.g. a path that cannot be decoded while the
        // adapter looks for its route) is answered as what it is, never as a 500.
        if (err instanceof HttpError && err.status < 500 && !res.headersSent) {
          req.resume();
          errorJson(res, err.status, err.code, err.message, requestId, err.headers);
          return;
        }
        logger.error('local adapter failed', { requestId, method: req.method, url: req.url, error: err as Error });
        answerInternalError(res, requestId);
      });
    });
  };
}
