/**
 * A small HTTP client for the EchoFS API as the benchmark uses it: sign-up, small-file uploads
 * (each upload of an existing name makes a new version), downloads, the controller's status and
 * override, and the local fault proxies. Every call has a client-side timeout and reports its
 * outcome as data (never throws for an HTTP or network failure), with the cause classified.
 */
import type { z } from 'zod';
import { DOWNLOAD_TOKEN_HEADER } from '#shared/downloads.js';
import type { faultBody } from '#shared/wire/requests.js';
import { statusBody, type WireMode } from '#shared/wire/responses.js';

/** The user the single-system benches (bench:small, bench:io) sign in as: an admin, so that it can fix the mode under test with the global override. */
export const BENCH_USER = { username: 'bench', email: 'bench@example.test', password: 'bench-password-123' } as const;

export type FailureCause = '503' | 'timeout' | 'network' | `http-${number}`;

export type Outcome<T> =
  | { ok: true; value: T; status: number; mode?: string }
  | {
      ok: false;
      cause: FailureCause;
      status?: number;
      /** The server said nothing was applied (4xx, 503); otherwise the effect is unknown. */
      definite: boolean;
      message: string;
      mode?: string;
    };

export interface UploadResult {
  fileId: string;
  version: string;
  /** Replicas that held the write at the acknowledgement, when the server says. */
  acked?: number;
}

/** POST /api/v1/local/faults (shared/wire/requests.ts); unset fields keep the region's current value. */
type FaultRequest = z.input<typeof faultBody>;
export type FaultSettingsBody = Pick<FaultRequest, 'region'> & Partial<Omit<FaultRequest, 'region'>>;

/** Typed walk through an unknown JSON value. */
export function pick(v: unknown, ...path: (string | number)[]): unknown {
  let cur = v;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/** The payload of a `{success, data}` envelope, or the body itself. */
export function payload(body: unknown): unknown {
  const d = pick(body, 'data');
  return d !== undefined ? d : body;
}

export class HttpFailure extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'HttpFailure';
  }
}

export class EchoClient {
  token: string | undefined;

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 10_000,
  ) {}

  private async request(method: string, path: string, init: { body?: Buffer | string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<Outcome<Response>> {
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers,
        body: typeof init.body === 'string' || init.body === undefined ? init.body : new Uint8Array(init.body.buffer as ArrayBuffer, init.body.byteOffset, init.body.length),
        signal: AbortSignal.timeout(init.timeoutMs ?? this.timeoutMs),
      });
    } catch (err) {
      const name = (err as { name?: string }).name;
      const timeout = name === 'TimeoutError' || name === 'AbortError';
      // A refused connection never carried the request: nothing can have been applied.
      const refused = (err as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED';
      return { ok: false, cause: timeout ? 'timeout' : 'network', definite: refused, message: errMessage(err) };
    }
    const mode = res.headers.get('x-echofs-mode') ?? undefined;
    if (res.ok) return { ok: true, value: res, status: res.status, ...(mode ? { mode } : {}) };
    let message = `${res.status}`;
    try {
      const text = await res.text();
      const m = pick(safeJson(text), 'error', 'message');
      message = `${res.status} ${typeof m === 'string' ? m : text.slice(0, 200)}`;
    } catch {
      /* the body is only for the message */
    }
    const cause: FailureCause = res.status === 503 ? '503' : `http-${res.status}`;
    // 4xx and 503 (Unavailable: nothing committed) are definite; other 5xx may have been applied.
    const definite = res.status === 503 || (res.status >= 400 && res.status < 500);
    return { ok: false, cause, status: res.status, definite, message, ...(mode ? { mode } : {}) };
  }

  private async jsonCall(method: string, path: string, body?: unknown): Promise<unknown> {
    const out = await this.request(method, path, body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    if (!out.ok) throw new HttpFailure(out.status, `${method} ${path}: ${out.message}`);
    const text = await out.value.text();
    return text ? safeJson(text) : undefined;
  }

  /** Register (or, if the account exists, sign in) and keep the token. */
  async signIn(username: string, email: string, password: string): Promise<void> {
    let body: unknown;
    try {
      body = await this.jsonCall('POST', '/api/v1/auth/register', { username, email, password });
    } catch (err) {
      if (!(err instanceof HttpFailure) || err.status !== 409) throw err;
      body = await this.jsonCall('POST', '/api/v1/auth/login', { email, password });
    }
    const token = pick(payload(body), 'token') ?? pick(payload(body), 'access_token') ?? pick(body, 'token');
    if (typeof token !== 'string') throw new Error(`sign-in returned no token: ${JSON.stringify(body).slice(0, 200)}`);
    this.token = token;
  }

  /** The small-file route (multipart field `file`); an existing name gets a new version. */
  async upload(name: string, content: Buffer, opts: { ifMatch?: number } = {}): Promise<Outcome<UploadResult>> {
    const boundary = `----echofs-bench-${Math.random().toString(16).slice(2)}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const out = await this.request('POST', '/api/v1/files/upload', {
      body: Buffer.concat([head, content, tail]),
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, ...(opts.ifMatch !== undefined ? { 'if-match': String(opts.ifMatch) } : {}) },
    });
    if (!out.ok) return out;
    let body: unknown;
    try {
      body = safeJson(await out.value.text());
    } catch (err) {
      return { ok: false, cause: 'network', definite: false, message: `upload response unreadable: ${errMessage(err)}` };
    }
    const data = payload(body);
    const fileId = pick(data, 'file_id') ?? pick(data, 'id');
    const version = pick(data, 'version');
    if (typeof fileId !== 'string' && typeof fileId !== 'number') {
      return { ok: false, cause: `http-${out.status}`, definite: false, message: `upload response has no file_id: ${JSON.stringify(body).slice(0, 200)}` };
    }
    // EchoFS says how the write was acknowledged in `ack` (replicas_acked, acked, pending); a server
    // of the published API may give `acked` at the top level instead, or nothing.
    const acked = pick(data, 'ack', 'replicas_acked') ?? pick(data, 'ack', 'acked') ?? pick(data, 'acked');
    const ackedCount = Array.isArray(acked) ? acked.length : typeof acked === 'number' ? acked : undefined;
    const value: UploadResult = { fileId: String(fileId), version: version === undefined ? '' : String(version), ...(ackedCount !== undefined ? { acked: ackedCount } : {}) };
    return { ok: true, status: out.status, value, ...(out.mode ? { mode: out.mode } : {}) };
  }

  /** Every version of a file with its content's SHA-256 (GET /api/v1/files/{id}/versions). */
  async listVersions(fileId: string): Promise<Outcome<{ version: number; sha256: string }[]>> {
    const out = await this.request('GET', `/api/v1/files/${encodeURIComponent(fileId)}/versions`);
    if (!out.ok) return out;
    let body: unknown;
    try {
      body = safeJson(await out.value.text());
    } catch (err) {
      return { ok: false, cause: 'network', definite: false, message: `versions response unreadable: ${errMessage(err)}` };
    }
    const list = pick(payload(body), 'versions');
    if (!Array.isArray(list)) return { ok: false, cause: `http-${out.status}`, definite: false, message: `versions response has no list: ${JSON.stringify(body).slice(0, 200)}` };
    const versions = list.flatMap((v: unknown) => {
      const version = pick(v, 'version');
      const sha = pick(v, 'sha256');
      return typeof version === 'number' && typeof sha === 'string' ? [{ version, sha256: sha }] : [];
    });
    return { ok: true, status: out.status, value: versions };
  }

  /** Mark an object always strong (admin). */
  async addCriticalKey(key: string): Promise<void> {
    await this.jsonCall('POST', '/v1/critical-keys', { key });
  }

  async removeCriticalKey(key: string): Promise<void> {
    try {
      await this.jsonCall('DELETE', `/v1/critical-keys?key=${encodeURIComponent(key)}`);
    } catch (err) {
      if (!(err instanceof HttpFailure) || err.status !== 404) throw err;
    }
  }

  /**
   * The file's bytes (a given version, or the current one); null when the server says 404. The
   * version the server answered with (X-EchoFS-Version) is in `version` when it says.
   */
  async download(fileId: string, version?: string): Promise<Outcome<Buffer | null> & { version?: number }> {
    const q = version ? `?version=${encodeURIComponent(version)}` : '';
    // The streaming endpoint reads the token from its own header (CloudFront signs Authorization).
    const headers: Record<string, string> = this.token ? { [DOWNLOAD_TOKEN_HEADER]: `Bearer ${this.token}` } : {};
    const out = await this.request('GET', `/api/v1/files/${encodeURIComponent(fileId)}/download${q}`, { headers });
    if (!out.ok) {
      if (out.status === 404) return { ok: true, value: null, status: 404, ...(out.mode ? { mode: out.mode } : {}) };
      return out;
    }
    try {
      const served = Number(out.value.headers.get('x-echofs-version') ?? NaN);
      const buf = Buffer.from(await out.value.arrayBuffer());
      return { ok: true, value: buf, status: out.status, ...(out.mode ? { mode: out.mode } : {}), ...(Number.isInteger(served) ? { version: served } : {}) };
    } catch (err) {
      const name = (err as { name?: string }).name;
      return { ok: false, cause: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network', definite: false, message: errMessage(err) };
    }
  }

  /** File metadata (versions and where each chunk lives). */
  fileInfo(fileId: string): Promise<unknown> {
    return this.jsonCall('GET', `/api/v1/files/${encodeURIComponent(fileId)}`).then(payload);
  }

  /** GET /v1/status: mode, score and its parts, replica health, backlog. */
  status(): Promise<unknown> {
    return this.jsonCall('GET', '/v1/status').then(payload);
  }

  /** A fixed global mode (admin). */
  async setOverride(mode: 'C' | 'H' | 'A'): Promise<void> {
    await this.jsonCall('POST', '/v1/override', { mode });
  }

  /** Back to the controller's own decisions (admin). */
  async clearOverride(): Promise<void> {
    try {
      await this.jsonCall('DELETE', '/v1/override');
    } catch (err) {
      if (!(err instanceof HttpFailure) || err.status !== 404) throw err;
    }
  }

  async setFault(body: FaultSettingsBody): Promise<void> {
    await this.jsonCall('POST', '/api/v1/local/faults', body);
  }

  getFaults(): Promise<unknown> {
    return this.jsonCall('GET', '/api/v1/local/faults').then(payload);
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function errMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}

/** Controller status fields the benchmark reads, found in whichever shape /v1/status uses. */
export interface StatusView {
  /** The mode in force for objects without their own rule: the global override, else the controller's. */
  mode?: WireMode;
  /** The controller's own decision (what adaptive would do). */
  controllerMode?: WireMode;
  override?: WireMode;
  score?: number;
  /** Pending plus known-missing placement rows (the replication backlog). */
  backlog?: number;
  /** Age of the oldest pending row, ms. */
  lagMs?: number;
  /** The strong mode's write path in the answering process (latency-aware servers only). */
  writePath?: 'strong' | 'deadline';
}

const MODES = new Set(['C', 'H', 'A']);
const asMode = (v: unknown): StatusView['mode'] => (typeof v === 'string' && MODES.has(v) ? (v as StatusView['mode']) : undefined);

export function readStatus(s: unknown): StatusView {
  // The shape /v1/status declares (shared/wire/responses.ts); older servers' shapes are read below.
  const typed = statusBody.safeParse(s);
  if (typed.success) {
    const st = typed.data;
    const mode = st.global_override ?? st.mode;
    return {
      mode,
      controllerMode: st.mode,
      ...(st.global_override ? { override: st.global_override } : {}),
      ...(st.score !== null ? { score: st.score } : {}),
      backlog: st.backlog.pending + st.backlog.missing,
      lagMs: st.replication_lag_ms,
      // The strong mode's write path applies only to objects without a rule: not under a global override.
      ...(st.global_override ? {} : { writePath: st.write_path.path }),
    };
  }
  const out: StatusView = {};
  const controllerMode = asMode(pick(s, 'mode') ?? pick(s, 'controller', 'mode'));
  const override = asMode(pick(s, 'global_override') ?? pick(s, 'global_override', 'mode') ?? pick(s, 'override', 'mode'));
  if (controllerMode) out.controllerMode = controllerMode;
  if (override) out.override = override;
  const mode = override ?? controllerMode;
  if (mode) out.mode = mode;
  const score = pick(s, 'score');
  if (typeof score === 'number') out.score = score;
  const backlog = pick(s, 'backlog');
  if (typeof backlog === 'number') out.backlog = backlog;
  else {
    const pending = pick(backlog, 'pending');
    const missing = pick(backlog, 'missing');
    if (typeof pending === 'number') out.backlog = pending + (typeof missing === 'number' ? missing : 0);
  }
  const lag = pick(s, 'replication_lag_ms') ?? pick(backlog, 'lag_ms');
  if (typeof lag === 'number') out.lagMs = lag;
  return out;
}
