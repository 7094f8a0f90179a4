/**
 * The client's only way to the server: the public HTTP API over fetch. Every answer that is not a
 * success becomes a CliError whose kind (auth, not found, unavailable…) decides the exit code, and
 * whose message is the server's own sentence. Retryable failures (no answer, 429, 502–504, and 500
 * for idempotent chunk requests) are retried with backoff by `retrying`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { z } from 'zod';
import { CliError, kindOfStatus } from './errors.js';

export interface RequestOptions {
  method?: string;
  /** Sent as JSON. */
  json?: unknown;
  body?: Uint8Array;
  headers?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
  /** Send the bearer token (default true). */
  auth?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ApiOptions {
  url: string;
  token?: string;
  /** Per request; large bodies get more (see request). */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

interface ErrorBody {
  error?: { code?: string; message?: string; request_id?: string } | string;
  message?: string;
}

export class Api {
  readonly url: string;
  token: string | undefined;
  private readonly timeoutMs: number;
  private readonly doFetch: typeof fetch;

  constructor(o: ApiOptions) {
    this.url = o.url.replace(/\/+$/, '');
    this.token = o.token;
    this.timeoutMs = o.timeoutMs ?? 60_000;
    this.doFetch = o.fetch ?? ((...a: Parameters<typeof fetch>) => globalThis.fetch(...a));
  }

  /** Fetch a path of this server; throws CliError unless the status is 2xx. */
  async request(path: string, o: RequestOptions = {}): Promise<Response> {
    const auth = o.auth ?? true;
    if (auth && !this.token) {
      throw new CliError('auth', `Not signed in to ${this.url}: run \`echofs login --email EMAIL\` first (or set ECHOFS_TOKEN).`);
    }
    const headers: Record<string, string> = { Accept: 'application/json', 'User-Agent': 'echofs-cli', ...(o.headers ?? {}) };
    if (auth && this.token) headers.Authorization = `Bearer ${this.token}`;
    let body: Uint8Array | string | undefined = o.body;
    if (o.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(o.json);
    }
    const qs = Object.entries(o.query ?? {})
      .filter((e): e is [string, string | number] => e[1] !== undefined)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
      .join('&');
    const target = `${this.url}${path}${qs ? `?${qs}` : ''}`;
    const timeout = AbortSignal.timeout(o.timeoutMs ?? this.timeoutMs);
    const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await this.doFetch(target, { method: o.method ?? (body === undefined ? 'GET' : 'POST'), headers, body: body as BodyInit | undefined, signal });
    } catch (err) {
      throw networkError(err, this.url, o.signal);
    }
    if (res.ok) return res;
    throw await httpError(res);
  }

  /** A JSON request whose answer is checked against `schema`. */
  async json<S extends z.ZodType>(path: string, schema: S, o: RequestOptions = {}): Promise<z.infer<S>> {
    const res = await this.request(path, o);
    const text = await readText(res, this.url);
    let value: unknown;
    try {
      value = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new CliError('failure', `${this.url} answered ${o.method ?? 'GET'} ${path} with something that is not JSON: is this an EchoFS server?`);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new CliError('failure', `Unexpected answer from ${this.url} to ${o.method ?? 'GET'} ${path}: ${issue ? `${issue.path.join('.') || 'body'} ${issue.message}` : 'invalid'}.`);
    }
    return parsed.data;
  }
}

async function readText(res: Response, url: string): Promise<string> {
  try {
    return await res.text();
  } catch (err) {
    throw networkError(err, url);
  }
}

export function networkError(err: unknown, url: string, userSignal?: AbortSignal): CliError {
  if (err instanceof CliError) return err;
  if (userSignal?.aborted) return new CliError('failure', 'Cancelled.');
  const name = (err as { name?: string }).name;
  if (name === 'TimeoutError' || name === 'AbortError') return new CliError('unavailable', `${url} did not answer in time.`, { status: 0 });
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (err as Error).message ?? String(err);
  return new CliError('unavailable', `Cannot reach ${url} (${why}).`, { status: 0 }, 'Check the URL (--url or ECHOFS_URL) and that the server is running.');
}

async function httpError(res: Response): Promise<CliError> {
  let body: ErrorBody = {};
  try {
    const text = await res.text();
    body = text ? (JSON.parse(text) as ErrorBody) : {};
  } catch {
    /* not JSON: the status says enough */
  }
  const e = typeof body.error === 'object' && body.error !== null ? body.error : undefined;
  const code = e?.code ?? (typeof body.error === 'string' ? body.error : undefined);
  const message = e?.message ?? body.message ?? `HTTP ${res.status} ${res.statusText}`.trim();
  const kind = kindOfStatus(res.status);
  const hint = res.status === 401 ? 'Sign in again with `echofs login`.' : undefined;
  const retryAfter = res.headers.get('retry-after');
  const err = new CliError(kind, message, { code, status: res.status, requestId: e?.request_id ?? res.headers.get('x-request-id') ?? undefined }, hint);
  if (retryAfter) (err as CliError & { retryAfterMs?: number }).retryAfterMs = parseRetryAfter(retryAfter);
  return err;
}

function parseRetryAfter(v: string): number | undefined {
  const s = Number(v);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const t = Date.parse(v);
  return Number.isFinite(t) ? Math.max(0, t - Date.now()) : undefined;
}

export interface RetryOptions {
  attempts?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Also retry a 500 (for requests that are safe to repeat: chunk PUTs and GETs). */
  retryServerErrors?: boolean;
  signal?: AbortSignal;
  onRetry?: (err: CliError, attempt: number, delayMs: number) => void;
}

/** Whether a failure is worth another try. */
export function isRetryable(err: unknown, retryServerErrors = false): boolean {
  if (!(err instanceof CliError)) return false;
  if (err.kind === 'unavailable') return true;
  return retryServerErrors && (err.details.status ?? 0) >= 500;
}

/** Run `fn` until it succeeds, retrying retryable failures with exponential backoff (or Retry-After). */
export async function retrying<T>(fn: () => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const attempts = o.attempts ?? 6;
  const base = o.baseDelayMs ?? 250;
  const max = o.maxDelayMs ?? 8_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !isRetryable(err, o.retryServerErrors) || o.signal?.aborted) throw err;
      const hinted = (err as { retryAfterMs?: number }).retryAfterMs;
      const exp = Math.min(max, base * 2 ** (attempt - 1));
      const delay = hinted !== undefined ? Math.min(hinted, max * 2) : Math.round(exp / 2 + Math.random() * (exp / 2));
      o.onRetry?.(err as CliError, attempt, delay);
      await sleep(delay, undefined, o.signal ? { signal: o.signal } : undefined);
    }
  }
}
