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
