/**
 * Idempotency-Key on writes. A route flagged `idempotent` in the route table (shared/routes.ts)
 * accepts an `Idempotency-Key` header; the API binding (functions/_lib/api.ts) wraps its handler
 * with `withIdempotency`, so no handler does anything of its own:
 *
 * - the first request with a key (per user) claims it in the catalog, does the work, and stores
 *   its outcome (status, headers, body) next to the key;
 * - a retry with the same key, route and request (same fingerprint) gets that outcome back without
 *   the work being done again, marked `Idempotent-Replayed: true`;
 * - the same key with another route or another request is refused, 422 `idempotency_key_reused`;
 * - a retry while the first is still running is refused, 409 `idempotency_in_progress` with
 *   Retry-After (it does not wait: a Lambda container must not hold a request open on another's);
 * - an outcome of 5xx (nothing was done: replicas unavailable, timeout) is not kept: the key is
 *   released and a retry does the work.
 *
 * The records live in the catalog (table idempotency_keys, migration 0004), shared by every
 * container, for `ttlSeconds` (24 h by default); garbage collection deletes expired ones, and a
 * claim treats an expired record as absent. A running claim holds the key until `locked_until`
 * (the request's time budget plus a grace): a request whose container died mid-way releases its
 * key then, and since a timed-out request can no longer commit (shared/deadline.ts), the retry
 * that takes the key over cannot double the work.
 */
import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { queryRows, type Db } from './catalog/db.js';
import { currentDeadline } from './deadline.js';
import { BadRequest, HttpError } from './errors.js';
import { errorResult, type ApiRequest, type ApiResult, type RouteHandler } from './http.js';
import { logger } from './observability.js';
import { routeKey } from './routes.js';
import { idempotencyKey } from './wire/idempotency-header.js';

export { idempotencyHeaders, idempotencyKey } from './wire/idempotency-header.js';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** Header on an answer that repeats a stored outcome. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';
export const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
/** How long a running claim holds its key when the request has no deadline of its own. */
export const DEFAULT_IDEMPOTENCY_LEASE_MS = 60_000;

export interface StoredOutcome {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

export type ClaimResult =
  | { kind: 'claimed'; token: string }
  | { kind: 'replay'; outcome: StoredOutcome }
  | { kind: 'mismatch'; route: string }
  | { kind: 'in_progress' };

interface Row extends Record<string, unknown> {
  route: string;
  fingerprint: string;
  state: 'running' | 'done';
  status: number | null;
  headers: Record<string, string> | string | null;
  body: string | null;
  body_base64: boolean;
}

/** The catalog side: claim a key, store its outcome, release it, purge expired records. */
export class IdempotencyStore {
  constructor(
    private readonly db: Db,
    private readonly opts: { ttlSeconds?: number; now?: () => number } = {},
  ) {}

  private now(): Date {
    return new Date(this.opts.now?.() ?? Date.now());
  }

  /**
   * Claim `key` for a request (one statement: the primary key serialises concurrent claimers), or
   * say what the key already holds. An expired record, or a running one whose lease ran out for
   * the same request, is taken over.
   */
  async claim(ownerId: string, key: string, route: string, fingerprint: string, leaseMs: number): Promise<ClaimResult> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = this.now();
      const token = randomUUID();
      const lockedUntil = new Date(now.getTime() + leaseMs);
      const expiresAt = new Date(now.getTime() + (this.opts.ttlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS) * 1000);
      const claimed = await queryRows(
        this.db,
        sql`INSERT INTO idempotency_keys AS k (owner_id, key, route, fingerprint, state, token, created_at, locked_until, expires_at)
            VALUES (${ownerId}, ${key}, ${route}, ${fingerprint}, 'running', ${token}, ${now}, ${lockedUntil}, ${expiresAt})
            ON CONFLICT (owner_id, key) DO UPDATE SET
              route = excluded.route, fingerprint = excluded.fingerprint, state = 'running', token = excluded.token,
              status = NULL, headers = NULL, body = NULL, body_base64 = false,
              created_at = excluded.created_at, locked_until = excluded.locked_until, expires_at = excluded.expires_at
            WHERE k.expires_at <= ${now}
               OR (k.state = 'running' AND k.locked_until <= ${now} AND k.route = excluded.route AND k.fingerprint = excluded.fingerprint)
            RETURNING k.token`,
      );
      if (claimed.length > 0) return { kind: 'claimed', token };
      const [row] = await queryRows<Row>(
        this.db,
        sql`SELECT route, fingerprint, state, status, headers, body, body_base64 FROM idempotency_keys WHERE owner_id = ${ownerId} AND key = ${key}`,
      );
      if (!row) continue; // released between the two statements: claim again
      if (row.route !== route || row.fingerprint !== fingerprint) return { kind: 'mismatch', route: row.route };
      if (row.state === 'running') return { kind: 'in_progress' };
      const headers = typeof row.headers === 'string' ? (JSON.parse(row.headers) as Record<string, string>) : (row.headers ?? {});
      return { kind: 'replay', outcome: { statusCode: Number(row.status), headers, body: row.body ?? '', isBase64Encoded: row.body_base64 === true } };
    }
    return { kind: 'in_progress' };
  }

  /** Store the outcome of the claim `token` (a claim taken over meanwhile is left alone). */
  async complete(ownerId: string, key: string, token: string, outcome: StoredOutcome): Promise<void> {
    await this.db.execute(
      sql`UPDATE idempotency_keys SET state = 'done', status = ${outcome.statusCode}, headers = ${JSON.stringify(outcome.headers)}::jsonb,
            body = ${outcome.body}, body_base64 = ${outcome.isBase64Encoded}
          WHERE owner_id = ${ownerId} AND key = ${key} AND token = ${token} AND state = 'running'`,
    );
  }

  /** Give the key up (the work failed without effect): the next request with it does the work. */
  async release(ownerId: string, key: string, token: string): Promise<void> {
    await this.db.execute(sql`DELETE FROM idempotency_keys WHERE owner_id = ${ownerId} AND key = ${key} AND token = ${token} AND state = 'running'`);
  }

  /** Delete expired records (garbage collection); returns how many. */
  async purgeExpired(limit = 10_000): Promise<number> {
    const rows = await queryRows(
      this.db,
      sql`DELETE FROM idempotency_keys WHERE (owner_id, key) IN (
            SELECT owner_id, key FROM idempotency_keys WHERE expires_at <= ${this.now()} LIMIT ${limit}) RETURNING 1 AS gone`,
    );
    return rows.length;
  }
}

/**
 * What identifies "the same request": route, path parameters, query, If-Match and the body. A
 * multipart body's boundary is left out (clients draw a new one for every send, retries too).
 */
export function requestFingerprint(req: Pick<ApiRequest, 'route' | 'params' | 'query' | 'headers' | 'rawBody'>): string {
  const h = createHash('sha256');
  const sorted = (o: Record<string, string>) => Object.keys(o).sort().map((k) => [k, o[k]]);
  h.update(JSON.stringify([routeKey(req.route), sorted(req.params), sorted(req.query), req.headers['if-match'] ?? null]));
  h.update('\n');
  let body = req.rawBody();
  const boundary = /^multipart\/[^;]+;(?:.*;)?\s*boundary="?([^";]+)"?/i.exec(req.headers['content-type'] ?? '')?.[1];
  if (boundary) body = Buffer.from(body.toString('latin1').split(boundary).join(''), 'latin1');
  h.update(body);
  return h.digest('hex');
}

function conflict(status: number, code: string, message: string, headers: Record<string, string> = {}): HttpError {
  return new HttpError(status, code, message, headers, { field: IDEMPOTENCY_HEADER });
}

/** Past the request's deadline, how long a claim still holds its key (a commit under way finishes). */
export const LEASE_GRACE_MS = 10_000;

export interface IdempotencyOptions {
  /** How long a claim holds its key for this request; default: its deadline plus LEASE_GRACE_MS. */
  leaseMs?: (req: ApiRequest) => number;
}

/** Headers of an answer that belong to the request, not to its outcome. */
const PER_REQUEST_HEADERS = new Set(['x-request-id', 'x-echofs-mode', REPLAYED_HEADER.toLowerCase()]);

/**
 * Wrap a route handler with Idempotency-Key handling (see the module comment). Requests without
 * the header, or without a user, go straight to the handler.
 */
export function withIdempotency(store: IdempotencyStore, handler: RouteHandler, opts: IdempotencyOptions = {}): RouteHandler {
  return async (req) => {
    const key = req.headers['idempotency-key'];
    const owner = req.user?.id;
    if (key === undefined || owner === undefined) return handler(req);
    // The wire schema checked it already when the route declares it; this keeps the wrapper safe alone.
    if (!idempotencyKey.safeParse(key).success) {
      throw new BadRequest(`Header '${IDEMPOTENCY_HEADER}' must be 1-255 printable ASCII characters without spaces (e.g. a UUID).`, 'invalid_field', { field: IDEMPOTENCY_HEADER });
    }
    const route = routeKey(req.route);
    const deadline = currentDeadline();
    const leaseMs = opts.leaseMs?.(req) ?? (deadline ? deadline.remainingMs() + LEASE_GRACE_MS : DEFAULT_IDEMPOTENCY_LEASE_MS);
    const claim = await store.claim(owner, key, route, requestFingerprint(req), leaseMs);
    switch (claim.kind) {
      case 'mismatch':
        throw conflict(
          422,
          'idempotency_key_reused',
          `Header '${IDEMPOTENCY_HEADER}' was already used for a different request${claim.route === route ? '' : ` (${claim.route})`}; use a new key for a new request.`,
        );
      case 'in_progress':
        throw conflict(409, 'idempotency_in_progress', `A request with this '${IDEMPOTENCY_HEADER}' is still in progress; retry shortly for its outcome.`, { 'Retry-After': '1' });
      case 'replay':
        return { ...claim.outcome, headers: { ...claim.outcome.headers, [REPLAYED_HEADER]: 'true' } };
      case 'claimed':
        break;
    }
    const release = () =>
      store.release(owner, key, claim.token).catch((err: unknown) => logger.warn('idempotency key not released', { requestId: req.requestId, error: err as Error }));
    // A request answered 504 can no longer commit: its key is free for the retry at once.
    deadline?.onExpire(release);
    let result: ApiResult;
    try {
      result = await handler(req);
    } catch (err) {
      // A client error is an outcome like any other: a retry gets the same answer.
      if (!(err instanceof HttpError) || err.status >= 500) {
        await release();
        throw err;
      }
      result = errorResult(err, req.requestId);
    }
    if (result.statusCode >= 500 || result.stream) {
      await release();
      return result;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(result.headers ?? {})) if (!PER_REQUEST_HEADERS.has(k.toLowerCase())) headers[k] = v;
    try {
      await store.complete(owner, key, claim.token, { statusCode: result.statusCode, headers, body: result.body ?? '', isBase64Encoded: result.isBase64Encoded === true });
    } catch (err) {
      // The work is done and answered; the key stays running until its lease ends.
      logger.warn('idempotency outcome not stored', { requestId: req.requestId, error: err as Error });
    }
    return result;
  };
}
