/**
 * The HTTP shape shared by every API function, free of any transport: a request in (the fields of
 * an API Gateway HTTP API v2 event that the API reads; the local adapter builds the same), a
 * structured result out. One pipeline (request id, auth from the route table, validation from the
 * wire schemas, typed errors -> status codes) so a handler only validates, calls the core and
 * shapes the response. The Lambda (middy) binding is functions/_lib/api.ts.
 */
import type { Readable } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import { BadRequest, Forbidden, HttpError, isBackendUnavailable, MethodNotAllowed, NotFound, publicMessage, Unauthorized, Unavailable, withoutParams } from './errors.js';
import { routes, routeKey, type FunctionName, type Route } from './routes.js';
import { requestSchema, type RequestKey, type RequestInput } from './wire/requests.js';
import { logger as defaultLogger } from './observability.js';
import type { Logger } from '@aws-lambda-powertools/logger';

/** What the API reads of a request: an API Gateway HTTP API v2 event has this shape. */
/**
 * Where the local adapter leaves a binary request body as the bytes it received: rawBody() takes
 * them as they are, and `event.body` (base64, as API Gateway sends it) is only encoded if read.
 */
export const RAW_BODY = Symbol.for('echofs.rawBody');

export interface HttpEvent {
  /** "GET /api/v1/files/{id}", or "$default" when no route matched. */
  routeKey: string;
  headers?: Record<string, string | undefined>;
  pathParameters?: Record<string, string | undefined>;
  queryStringParameters?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
  requestContext?: { requestId?: string; http?: { sourceIp?: string } };
}

/** One API function's handler: the request, and the invocation's id when the transport has one. */
export type HttpHandler = (event: HttpEvent, invocation?: { requestId?: string }) => Promise<ApiResult>;

export interface ApiResult {
  statusCode: number;
  headers?: Record<string, string>;
  body?: string;
  isBase64Encoded?: boolean;
  /** A streamed body (downloads). The local adapter pipes it; Lambda streams it or buffers small ones. */
  stream?: Readable;
}

export type Role = 'user' | 'admin';

export interface AuthUser {
  id: string;
  username: string;
  email: string;
  role: Role;
}

/** What a download link is asked to open: the request's file id and `version` query, as sent. */
export interface LinkScope {
  fileId: string;
  version?: string;
}

/** A signed download link (shared/auth/tokens.ts): the token and when it expires. */
export interface DownloadLink {
  token: string;
  expiresAt: Date;
  expiresInSeconds: number;
}

export interface Authenticator {
  /** Verify a bearer token; throws Unauthorized for anything but a valid, current token. */
  authenticate(token: string): Promise<AuthUser>;
  /**
   * Verify a download link for exactly this file and version: 401 `invalid_link` for a bad,
   * expired or revoked one, 403 `link_mismatch` for one of another file or version.
   */
  authenticateLink?(token: string, scope: LinkScope): Promise<AuthUser>;
  /** Sign a short-lived download link to one of the user's files (at `version`, when given). */
  signLink?(user: AuthUser, fileId: string, version?: number): Promise<DownloadLink>;
}

export interface ApiRequest {
  requestId: string;
  route: Route;
  event: HttpEvent;
  /** Lower-cased header names. */
  headers: Record<string, string>;
  params: Record<string, string>;
  query: Record<string, string>;
  /** Set when the route requires auth (user or admin). */
  user?: AuthUser;
  /** Raw body bytes (base64 decoded when needed). */
  rawBody(): Buffer;
  /** Path parameters, query and JSON body as parsed by the route's schemas (shared/wire/requests.ts); read with inputOf. */
  input?: { params: unknown; query: unknown; body: unknown; headers: unknown };
}

/** The parsed, validated input of the route `key`; throws if the request is another route's. */
export function inputOf<K extends RequestKey>(req: ApiRequest, key: K): RequestInput<K> {
  if (routeKey(req.route) !== key || !req.input) throw new Error(`inputOf('${key}') called on a request for ${routeKey(req.route)}`);
  return req.input as RequestInput<K>;
}

export type RouteHandler = (req: ApiRequest) => Promise<ApiResult>;

export interface ApiHandlerOptions {
  authenticator?: Authenticator;
  logger?: Logger;
  /** Runs on every response, success or error (e.g. to add X-EchoFS-Mode). */
  decorate?: (req: ApiRequest | undefined, result: ApiResult) => Promise<void> | void;
}

const JSON_HEADERS = { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' };

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): ApiResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export function errorBody(code: string, message: string, extra?: Record<string, unknown>): unknown {
  return { success: false, error: { code, message, ...(extra ?? {}) } };
}

/** An error's answer: its code, a message meant for clients (never internal text on a 5xx), its details and the request id. */
export function errorResult(err: HttpError, requestId?: string): ApiResult {
  return json(err.status, errorBody(err.code, publicMessage(err), { ...(err.details ?? {}), ...(requestId ? { request_id: requestId } : {}) }), {
    ...err.headers,
    ...(requestId ? { 'X-Request-Id': requestId } : {}),
  });
}

/** A backing service that cannot be reached (catalog, controller table): 503 with Retry-After. */
export function catalogUnavailable(): Unavailable {
  return new Unavailable('The catalog is unreachable; retry shortly.', 5, 'catalog_unavailable');
}

/** Parse and validate a JSON body with a zod schema; a 400 names the first bad field. */
export function parseJson<T extends z.ZodType>(req: ApiRequest, schema: T): z.infer<T> {
  const raw = req.rawBody();
  let value: unknown;
  if (raw.length === 0) {
    value = {};
  } else {
    try {
      value = JSON.parse(raw.toString('utf8'));
    } catch {
      throw new BadRequest('Malformed JSON body: send a valid JSON object.', 'invalid_json');
    }
  }
  return validate(schema, value, 'body');
}

/** Validate any value with a zod schema; a 400 names the first bad field. */
export function validate<T extends z.ZodType>(schema: T, value: unknown, where: 'body' | 'query' | 'path' | 'header' = 'body'): z.infer<T> {
  // reportInput lets describeIssue tell a missing field from one of the wrong type; the input is
  // never copied into the response.
  const result = schema.safeParse(value, { reportInput: true });
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue && issue.path.length > 0 ? issue.path.join('.') : where;
    const reason = issue ? describeIssue(issue) : 'is invalid';
    throw new BadRequest(`Field '${field}' ${reason}.`, 'invalid_field', { field });
  }
  return result.data;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    const received = (issue as { input?: unknown }).input;
    if (received === undefined) return `is required (expected ${issue.expected})`;
    return `must be of type ${issue.expected}`;
  }
  return issue.message ? `is invalid: ${issue.message}` : 'is invalid';
}

function lowerHeaders(h: Record<string, string | undefined> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) if (v !== undefined) out[k.toLowerCase()] = v;
  return out;
}

export function bearerToken(headers: Record<string, string>): string | undefined {
  const h = headers['authorization'];
  if (!h) return undefined;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m?.[1]?.trim();
}

/**
 * The handler of one API function, transport-neutral: routing by route key, auth from the route
 * table, validation from the wire schemas, typed errors to status codes (internal text only in
 * the log), X-Request-Id on every answer. Lambda binds it in functions/_lib/api.ts; the local
 * adapter reaches it through the same binding.
 */
export function createHttpHandler(fn: FunctionName, handlers: Record<string, RouteHandler>, options: ApiHandlerOptions = {}): HttpHandler {
  const log = options.logger ?? defaultLogger;
  const table = new Map<string, Route>();
  for (const r of routes) if (r.fn === fn) table.set(routeKey(r), r);
  for (const key of Object.keys(handlers)) {
    if (!table.has(key)) throw new Error(`handler for ${key} has no route in the route table for function '${fn}'`);
    if (!requestSchema(key)) throw new Error(`route ${key} has no request schema in shared/wire/requests.ts`);
  }

  const core = async (event: HttpEvent, requestId: string, seen: { req?: ApiRequest }): Promise<ApiResult> => {
    const route = table.get(event.routeKey);
    const handler = route ? handlers[event.routeKey] : undefined;
    if (!route || !handler) {
      if (event.routeKey === '$default') throw new NotFound('No such route.');
      throw new MethodNotAllowed();
    }
    const headers = lowerHeaders(event.headers);
    let body: Buffer | undefined;
    const req: ApiRequest = {
      requestId,
      route,
      event,
      headers,
      params: { ...(event.pathParameters ?? {}) } as Record<string, string>,
      query: { ...(event.queryStringParameters ?? {}) } as Record<string, string>,
      rawBody() {
        if (!body) {
          const raw = (event as { [RAW_BODY]?: unknown })[RAW_BODY];
          if (Buffer.isBuffer(raw)) return (body = raw);
          const b = event.body ?? '';
          body = event.isBase64Encoded ? Buffer.from(b, 'base64') : Buffer.from(b, 'utf8');
        }
        return body;
      },
    };
    seen.req = req;
    if (route.auth !== 'none') {
      if (!options.authenticator) throw new Error(`function '${fn}' has auth routes but no authenticator`);
      const link = route.linkAuth ? req.query['link'] : undefined;
      if (link !== undefined) {
        // A signed download link stands in for the bearer token, for its own file and version only.
        if (!options.authenticator.authenticateLink) throw new Error(`function '${fn}' has link routes but its authenticator checks no links`);
        req.user = await options.authenticator.authenticateLink(link, { fileId: req.params['id'] ?? '', version: req.query['version'] });
      } else {
        const token = bearerToken(headers);
        if (!token) throw new Unauthorized();
        req.user = await options.authenticator.authenticate(token);
      }
      if (route.auth === 'admin' && req.user.role !== 'admin') throw new Forbidden();
    } else if (route.method === 'GET' && options.authenticator && bearerToken(headers)) {
      // Open GET routes (health) show more to an admin; a bad token there is simply anonymous.
      req.user = await options.authenticator.authenticate(bearerToken(headers) as string).catch(() => undefined);
    }
    // Validation at the edge, after auth (an anonymous caller learns nothing about ids).
    const schema = requestSchema(event.routeKey) ?? {};
    req.input = {
      params: schema.params ? validate(schema.params, req.params, 'path') : {},
      query: schema.query ? validate(schema.query, req.query, 'query') : {},
      body: schema.body && !route.binaryBody ? parseJson(req, schema.body) : {},
      headers: schema.headers ? validate(schema.headers, req.headers, 'header') : {},
    };
    return handler(req);
  };

  const failed = (err: unknown, event: HttpEvent, requestId: string): ApiResult => {
    if (err instanceof HttpError) {
      // The internal text of a 5xx (SDK and replica errors) goes to the log with the request id only.
      if (err.status >= 500) log.warn('request failed', { requestId, status: err.status, code: err.code, detail: err.message, details: err.details });
      return errorResult(err, requestId);
    }
    if (isBackendUnavailable(err)) {
      log.warn('backend unavailable', { requestId, routeKey: event?.routeKey, error: withoutParams(err) });
      return errorResult(catalogUnavailable(), requestId);
    }
    // Query errors carry their bound parameters (possibly secrets): log them without.
    log.error('unhandled error', { requestId, routeKey: event?.routeKey, error: withoutParams(err) });
    return json(500, errorBody('internal_error', 'Internal error. Quote the request id when reporting it.', { request_id: requestId }));
  };

  return async (event, invocation = {}) => {
    const requestId = event.requestContext?.requestId ?? invocation.requestId ?? randomUUID();
    const seen: { req?: ApiRequest } = {};
    let result: ApiResult;
    try {
      result = await core(event, requestId, seen);
      result.headers = { ...(result.headers ?? {}), 'X-Request-Id': requestId };
      if (options.decorate) await options.decorate(seen.req, result);
    } catch (err) {
      result = failed(err, event, requestId);
      result.headers = { ...(result.headers ?? {}), 'X-Request-Id': requestId };
      if (options.decorate) {
        try {
          await options.decorate(seen.req, result);
        } catch (e) {
          log.warn('decorate failed', { error: e as Error });
        }
      }
    }
    return result;
  };
}


