/**
 * Typed errors meant for the client. The error middleware maps each to its status code and the
 * body {success: false, error: {code, message}}. Anything that is not an HttpError becomes a
 * generic 500 with a request id; its details go to the log only.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequest extends HttpError {
  constructor(message: string, code = 'bad_request', details?: Record<string, unknown>) {
    super(400, code, message, {}, details);
  }
}
export class Unauthorized extends HttpError {
  constructor(message = 'Authentication required: send a valid bearer token.', code = 'unauthorized') {
    super(401, code, message, { 'WWW-Authenticate': 'Bearer' });
  }
}
export class Forbidden extends HttpError {
  constructor(message = 'This action needs the admin role.', code = 'forbidden') {
    super(403, code, message);
  }
}
export class NotFound extends HttpError {
  constructor(message = 'Not found.', code = 'not_found') {
    super(404, code, message);
  }
}
export class MethodNotAllowed extends HttpError {
  constructor(message = 'Method not allowed on this path.') {
    super(405, 'method_not_allowed', message);
  }
}
export class Conflict extends HttpError {
  constructor(message: string, code = 'conflict') {
    super(409, code, message);
  }
}
export class PreconditionFailed extends HttpError {
  constructor(message: string, code = 'precondition_failed', details?: Record<string, unknown>) {
    super(412, code, message, {}, details);
  }
}
export class PayloadTooLarge extends HttpError {
  constructor(message: string, code = 'payload_too_large') {
    super(413, code, message);
  }
}
export class RangeNotSatisfiable extends HttpError {
  constructor(size: number) {
    super(416, 'range_not_satisfiable', `Range not satisfiable: the object is ${size} bytes.`, {
      'Content-Range': `bytes */${size}`,
    });
  }
}
export class Unavailable extends HttpError {
  constructor(message: string, retryAfterSeconds = 5, code = 'unavailable', details?: Record<string, unknown>) {
    super(503, code, message, { 'Retry-After': String(retryAfterSeconds) }, details);
  }
}

/**
 * A failed query's error without its parameters. Drizzle puts every bound parameter into the
 * message of a failed query; for statements that carry secrets (password hashes) rethrow this
 * instead, so logs keep the statement, the server's reason and the SQLSTATE, never the values.
 */
export function withoutParams(err: unknown): Error {
  if (!(err instanceof Error) || !('params' in err)) return err instanceof Error ? err : new Error(String(err));
  const cause = err.cause as { message?: unknown; code?: unknown; constraint?: unknown } | undefined;
  const query = (err as { query?: unknown }).query;
  const clean = new Error(`Failed query: ${String(query)}\nreason: ${String(cause?.message ?? 'unknown')}`);
  clean.name = 'CatalogQueryError';
  Object.assign(clean, { code: cause?.code, constraint: cause?.constraint });
  return clean;
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300']);
const UNAVAILABLE_NAMES = new Set(['DatabaseResumingException', 'ServiceUnavailableError', 'ServiceUnavailableException', 'InternalServerErrorException', 'ThrottlingException', 'TimeoutError', 'StatementTimeoutException']);
const UNAVAILABLE_TEXT = /connection terminated|connection timeout|timeout exceeded when trying to connect|pglite is closed|database system is (starting up|shutting down)|Client has encountered a connection error/i;

/**
 * True when an error (or one of its causes) says a backing service (the catalog, a controller
 * table) cannot be reached right now, rather than that the request is wrong or the code is: the
 * client should get 503 with Retry-After, not 500.
 */
export function isBackendUnavailable(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 5) return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && (UNAVAILABLE_CODES.has(e.code) || /^08/.test(e.code))) return true;
  if (typeof e.name === 'string' && UNAVAILABLE_NAMES.has(e.name)) return true;
  if (typeof e.message === 'string' && UNAVAILABLE_TEXT.test(e.message)) return true;
  return isBackendUnavailable(e.cause, depth + 1);
}

/** What a client sees of a 5xx: a fixed text per code (details stay in the log). */
const PUBLIC_5XX: Record<string, string> = {
  replicas_unavailable: 'Not enough replicas acknowledged the write; nothing was committed. Retry later.',
  chunk_unavailable: 'A chunk of this file could not be read from any replica. Retry later.',
  catalog_unavailable: 'The catalog is unreachable; retry shortly.',
  starting: 'The service is starting or its catalog is unreachable; retry shortly.',
  request_timeout: 'The request ran out of time before anything was committed; retry it.',
};

/** The client-facing message of an error answered with a 5xx: never the internal text. */
export function publicMessage(err: HttpError): string {
  if (err.status < 500) return err.message;
  return PUBLIC_5XX[err.code] ?? 'The service is temporarily unavailable; retry later. Quote the request id when reporting it.';
}
