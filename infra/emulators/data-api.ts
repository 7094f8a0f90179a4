/**
 * An emulator of the RDS Data API's JSON protocol (the one @aws-sdk/client-rds-data speaks):
 * ExecuteStatement, BatchExecuteStatement, BeginTransaction, CommitTransaction and
 * RollbackTransaction, over PostgreSQL (node-postgres, one connection per transaction) or PGlite
 * (one connection: transactions run one at a time, as on a single session).
 *
 * As the service does, each request's `secretArn` is read from Secrets Manager (its JSON
 * `username` and `password`) and the statements run as that database user: one connection pool
 * per secret, so a function given a DML-only role's secret gets exactly that role's rights. PGlite
 * has a single user: there every secret runs as it, and rights are not enforced.
 *
 * What it reproduces of the real service: named `:param` placeholders with typed values and type
 * hints, records as typed fields (longValue, doubleValue, booleanValue, stringValue, blobValue,
 * isNull), timestamps as UTC text without a zone, column metadata on request, errors as
 * BadRequestException carrying PostgreSQL's message, unknown clusters, secrets and transactions
 * refused, and idle transactions rolled back. Not reproduced: the 1 MiB result limit, the
 * 45-second statement timeout of a call without `continueAfterTimeout`, and IAM.
 *
 * Written here rather than taken from npm: `data-api-local` (the only candidate) is an alpha
 * (1.0.0-alpha.2) on Express 4 and node-postgres 7, without a PGlite backend.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { AwsError, listen, readBody, sendError, sendJson, type Listening } from './http.js';

/** One Data API field value (what the SDK sends and receives). */
export interface Field {
  isNull?: boolean;
  stringValue?: string;
  longValue?: number;
  doubleValue?: number;
  booleanValue?: boolean;
  blobValue?: string;
  arrayValue?: { stringValues?: string[]; longValues?: number[]; doubleValues?: number[]; booleanValues?: boolean[] };
}

export interface SqlParameter {
  name?: string;
  value?: Field;
  typeHint?: string;
}

/** A raw result: every value as PostgreSQL's text form, with each column's type OID. */
export interface RawResult {
  fields: { name: string; dataTypeID: number }[];
  rows: (string | null)[][];
  affectedRows: number;
}

/** A database session the emulator runs statements on. */
export interface Session {
  query(text: string, params: unknown[]): Promise<RawResult>;
  release(): void;
}

/** Where statements run: a fresh session per transaction, and one for statements outside any. */
export interface DataApiBackend {
  /** A session of its own, for one transaction (may wait while another holds the only one). */
  acquire(): Promise<Session>;
  close(): Promise<void>;
}

const CASTS: Record<string, string> = { UUID: 'uuid', TIMESTAMP: 'timestamp', JSON: 'jsonb', DATE: 'date', TIME: 'time', DECIMAL: 'numeric' };

function paramValue(f: Field | undefined): unknown {
  if (!f || f.isNull) return null;
  if (f.stringValue !== undefined) return f.stringValue;
  if (f.longValue !== undefined) return f.longValue;
  if (f.doubleValue !== undefined) return f.doubleValue;
  if (f.booleanValue !== undefined) return f.booleanValue;
  if (f.blobValue !== undefined) return Buffer.from(f.blobValue, 'base64');
  if (f.arrayValue) return f.arrayValue.stringValues ?? f.arrayValue.longValues ?? f.arrayValue.doubleValues ?? f.arrayValue.booleanValues ?? [];
  throw new AwsError('BadRequestException', 'Parameter value has no field set');
}

/**
 * `:name` placeholders -> `$n` (with a cast from the type hint), outside string literals, quoted
 * identifiers and `::` casts, as the Data API does.
 */
export function bindParameters(sql: string, params: readonly SqlParameter[]): { text: string; values: unknown[] } {
  const index = new Map<string, number>();
  const values: unknown[] = [];
  const byName = new Map(params.map((p) => [p.name ?? '', p]));
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === "'" || c === '"') {
      const end = sql.indexOf(c, i + 1);
      const stop = end < 0 ? sql.length : end + 1;
      out += sql.slice(i, stop);
      i = stop;
      continue;
    }
    if (c === ':' && sql[i + 1] === ':') {
      out += '::';
      i += 2;
      continue;
    }
    const m = c === ':' ? /^:([A-Za-z0-9_]+)/.exec(sql.slice(i)) : null;
    if (m) {
      const name = m[1] as string;
      const p = byName.get(name);
      if (!p) throw new AwsError('BadRequestException', `No value specified for parameter: ${name}`);
      let n = index.get(name);
      if (n === undefined) {
        values.push(paramValue(p.value));
        n = values.length;
        index.set(name, n);
      }
      const cast = p.typeHint ? CASTS[p.typeHint] : undefined;
      out += cast ? `$${n}::${cast}` : `$${n}`;
      i += m[0].length;
      continue;
    }
    out += c;
    i++;
  }
  return { text: out, values };
}

// PostgreSQL type OIDs and the field each becomes in a Data API record.
const LONG = new Set([20, 21, 23, 26]);
const DOUBLE = new Set([700, 701]);
const BOOL = 16;
const BYTEA = 17;
const TIMESTAMPTZ = 1184;
const TYPE_NAMES: Record<number, string> = {
  16: 'bool', 17: 'bytea', 20: 'int8', 21: 'int2', 23: 'int4', 25: 'text', 700: 'float4', 701: 'float8', 1043: 'varchar', 1082: 'date',
  1114: 'timestamp', 1184: 'timestamptz', 1700: 'numeric', 2950: 'uuid', 3802: 'jsonb', 114: 'json',
};

export function toField(v: string | null, oid: number): Field {
  if (v === null) return { isNull: true };
  if (LONG.has(oid)) return { longValue: Number(v) };
  if (DOUBLE.has(oid)) return { doubleValue: Number(v) };
  if (oid === BOOL) return { booleanValue: v === 't' || v === 'true' };
  if (oid === BYTEA) return { blobValue: Buffer.from(v.startsWith('\\x') ? v.slice(2) : v, 'hex').toString('base64') };
  // The Data API gives timestamps with a zone in UTC, as text without the zone.
  if (oid === TIMESTAMPTZ) return { stringValue: v.replace(/([+-]\d\d(:\d\d)?)$/, '') };
  return { stringValue: v };
}

/** A database user, as a Data API secret names it. */
export interface DatabaseCredentials {
  username: string;
  password: string;
}

export interface DataApiOptions {
  /**
   * Sessions that run as the given database user (called once per secret; the backends it returns
   * are closed with the emulator, each once).
   */
  backendFor: (credentials: DatabaseCredentials) => Promise<DataApiBackend>;
  /**
   * The secret's SecretString, as Secrets Manager gives it to the service (e.g.
   * secretsManagerReader), or undefined when there is no such secret.
   */
  readSecret: (arn: string) => Promise<string | undefined>;
  /** Cluster ARNs served (others are refused like an unknown cluster). */
  clusters: readonly string[];
  /** An idle transaction is rolled back after this long (ms; the real service: 3 minutes). */
  transactionIdleMs?: number;
}

export interface DataApiEmulator extends Listening {
  /** Statements executed so far (tests). */
  statements: number;
}

/** Reads secrets through the Secrets Manager API at `endpoint` (the real SDK, as the Data API does). */
export async function secretsManagerReader(endpoint: string, region: string): Promise<(arn: string) => Promise<string | undefined>> {
  const { GetSecretValueCommand, SecretsManagerClient } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({ endpoint, region, credentials: { accessKeyId: 'data-api', secretAccessKey: 'data-api' } });
  return async (arn) => {
    try {
      return (await client.send(new GetSecretValueCommand({ SecretId: arn }))).SecretString;
    } catch (err) {
      if ((err as { name?: string }).name === 'ResourceNotFoundException') return undefined;
      throw err;
    }
  };
}

interface Tx {
  session: Session;
  timer: NodeJS.Timeout;
  busy: Promise<unknown>;
}

export async function startDataApi(o: DataApiOptions): Promise<DataApiEmulator> {
  const txs = new Map<string, Tx>();
  /** secret ARN -> the backend that runs as its user. */
  const pools = new Map<string, Promise<DataApiBackend>>();
  const idleMs = o.transactionIdleMs ?? 180_000;
  let statements = 0;

  const arm = (id: string, tx: Tx) => {
    clearTimeout(tx.timer);
    tx.timer = setTimeout(() => void end(id, 'ROLLBACK').catch(() => undefined), idleMs);
    tx.timer.unref();
  };
  const end = async (id: string, how: 'COMMIT' | 'ROLLBACK') => {
    const tx = txs.get(id);
    if (!tx) throw new AwsError('BadRequestException', `Transaction ${id} is not found`);
    txs.delete(id);
    clearTimeout(tx.timer);
    try {
      await tx.busy.catch(() => undefined);
      await tx.session.query(how, []);
    } finally {
      tx.session.release();
    }
  };

  const noSecret = (arn: unknown) => new AwsError('BadRequestException', `Secrets Manager can't find the specified secret ${String(arn)}`);

  /** The backend running as the secret's user (a pool per secret, made on first use). */
  const backendOf = (arn: string): Promise<DataApiBackend> => {
    let p = pools.get(arn);
    if (!p) {
      p = (async () => {
        const text = await o.readSecret(arn);
        if (text === undefined) throw noSecret(arn);
        let v: { username?: unknown; password?: unknown };
        try {
          v = JSON.parse(text) as typeof v;
        } catch {
          throw new AwsError('BadRequestException', `The secret ${arn} is not a JSON object with username and password`);
        }
        if (typeof v?.username !== 'string' || typeof v.password !== 'string') {
          throw new AwsError('BadRequestException', `The secret ${arn} is not a JSON object with username and password`);
        }
        return o.backendFor({ username: v.username, password: v.password });
      })();
      pools.set(arn, p);
      // A failed look-up (unknown secret, unreachable server) is tried again on the next request.
      p.catch(() => pools.delete(arn));
    }
    return p;
  };

  const check = async (b: Record<string, unknown>): Promise<DataApiBackend> => {
    if (typeof b.resourceArn !== 'string' || !o.clusters.includes(b.resourceArn)) {
      throw new AwsError('BadRequestException', `Database cluster ${String(b.resourceArn)} not found or the Data API is not enabled on it`);
    }
    if (typeof b.secretArn !== 'string' || b.secretArn === '') throw noSecret(b.secretArn);
    return backendOf(b.secretArn);
  };

  /** Runs one statement in its transaction, or alone in a session of its own (auto-commit). */
  const run = async (backend: DataApiBackend, b: Record<string, unknown>, text: string, values: unknown[]): Promise<RawResult> => {
    statements++;
    const id = b.transactionId;
    if (typeof id === 'string' && id !== '') {
      const tx = txs.get(id);
      if (!tx) throw new AwsError('BadRequestException', `Transaction ${id} is not found`);
      arm(id, tx);
      const p = tx.busy.catch(() => undefined).then(() => tx.session.query(text, values));
      tx.busy = p;
      return p;
    }
    const session = await backend.acquire();
    try {
      return await session.query(text, values);
    } finally {
      session.release();
    }
  };

  const asDbError = (err: unknown): never => {
    if (err instanceof AwsError) throw err;
    const e = err as { message?: string; code?: string; detail?: string };
    throw new AwsError('BadRequestException', `ERROR: ${e.message ?? String(err)}${e.detail ? `\n  Detail: ${e.detail}` : ''}; SQLState: ${e.code ?? 'XX000'}`);
  };

  const ops: Record<string, (b: Record<string, unknown>) => Promise<unknown>> = {
    async '/Execute'(b) {
      const backend = await check(b);
      const { text, values } = bindParameters(String(b.sql ?? ''), (b.parameters as SqlParameter[] | undefined) ?? []);
      const r = await run(backend, b, text, values).catch(asDbError);
      const out: Record<string, unknown> = { numberOfRecordsUpdated: r.fields.length > 0 ? 0 : r.affectedRows, generatedFields: [] };
      if (r.fields.length > 0) out.records = r.rows.map((row) => row.map((v, i) => toField(v, r.fields[i]?.dataTypeID ?? 25)));
      if (b.includeResultMetadata === true) {
        out.columnMetadata = r.fields.map((f) => ({ name: f.name, label: f.name, typeName: TYPE_NAMES[f.dataTypeID] ?? 'unknown', type: 0, nullable: 2 }));
      }
      return out;
    },
    async '/BatchExecute'(b) {
      const backend = await check(b);
      const sets = (b.parameterSets as SqlParameter[][] | undefined) ?? [[]];
      const updateResults: unknown[] = [];
      for (const set of sets) {
        const { text, values } = bindParameters(String(b.sql ?? ''), set);
        await run(backend, b, text, values).catch(asDbError);
        updateResults.push({ generatedFields: [] });
      }
      return { updateResults };
    },
    async '/BeginTransaction'(b) {
      const backend = await check(b);
      const session = await backend.acquire().catch(asDbError);
      try {
        await session.query('BEGIN', []);
      } catch (err) {
        session.release();
        return asDbError(err);
      }
      const id = randomBytes(24).toString('base64');
      const tx: Tx = { session, timer: setTimeout(() => undefined, 0), busy: Promise.resolve() };
      txs.set(id, tx);
      arm(id, tx);
      return { transactionId: id };
    },
    async '/CommitTransaction'(b) {
      await check(b);
      await end(String(b.transactionId ?? ''), 'COMMIT').catch(asDbError);
      return { transactionStatus: 'Transaction Committed' };
    },
    async '/RollbackTransaction'(b) {
      await check(b);
      await end(String(b.transactionId ?? ''), 'ROLLBACK').catch(asDbError);
      return { transactionStatus: 'Rollback Complete' };
    },
  };

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const op = ops[new URL(req.url ?? '/', 'http://x').pathname];
      if (req.method !== 'POST' || !op) throw new AwsError('UnknownOperationException', `Unknown operation ${req.method} ${req.url}`, 404);
      const text = (await readBody(req)).toString('utf8');
      sendJson(res, 200, await op(text ? (JSON.parse(text) as Record<string, unknown>) : {}));
    } catch (err) {
      sendError(res, err);
    }
  };
  const listening = await listen((req, res) => void handler(req, res));
  const emulator: DataApiEmulator = {
    ...listening,
    get statements() {
      return statements;
    },
    async close() {
      for (const id of [...txs.keys()]) await end(id, 'ROLLBACK').catch(() => undefined);
      await listening.close();
      const backends = new Set(await Promise.all([...pools.values()].map((p) => p.catch(() => undefined))));
      for (const backend of backends) await backend?.close().catch(() => undefined);
    },
  };
  return emulator;
}

// ---------------------------------------------------------------- backends

/**
 * PostgreSQL through a node-postgres pool; every value comes back as text. With `credentials`,
 * the pool connects as that user instead of the URL's.
 */
export async function postgresBackend(url: string, o: { max?: number; credentials?: DatabaseCredentials } = {}): Promise<DataApiBackend> {
  const { default: pg } = await import('pg');
  const raw = (v: string) => v;
  const target = new URL(url);
  if (o.credentials) {
    target.username = encodeURIComponent(o.credentials.username);
    target.password = encodeURIComponent(o.credentials.password);
  }
  const pool = new pg.Pool({ connectionString: target.toString(), max: o.max ?? 20, types: { getTypeParser: () => raw } as unknown as import('pg').CustomTypesConfig });
  pool.on('error', () => undefined);
  pool.on('connect', (c) => void c.query("SET TIME ZONE 'UTC'").catch(() => undefined));
  return {
    async acquire() {
      const client = await pool.connect();
      return {
        async query(text, values) {
          const r = await client.query({ text, values, rowMode: 'array' });
          return { fields: r.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })), rows: r.rows as (string | null)[][], affectedRows: r.rowCount ?? 0 };
        },
        release: () => client.release(),
      };
    },
    close: () => pool.end(),
  };
}

/** PGlite (embedded): one session, handed to one holder at a time. */
export async function pgliteBackend(dataDir?: string): Promise<DataApiBackend> {
  const { PGlite } = await import('@electric-sql/pglite');
  const raw = (v: string) => v;
  // Every type PGlite would parse is kept as its text form.
  const oids = [16, 17, 20, 21, 23, 26, 114, 700, 701, 1082, 1114, 1184, 1700, 3802, 1000, 1005, 1007, 1009, 1016, 1021, 1022, 1115, 1185, 2951, 3807];
  const db = new PGlite(dataDir, { parsers: Object.fromEntries(oids.map((o) => [o, raw])) });
  await db.waitReady;
  await db.exec("SET TIME ZONE 'UTC'");
  let queue: Promise<void> = Promise.resolve();
  return {
    async acquire() {
      let release!: () => void;
      const previous = queue;
      queue = new Promise<void>((r) => (release = r));
      await previous;
      return {
        async query(text, values) {
          const r = await db.query<unknown[]>(text, values, { rowMode: 'array' });
          return {
            fields: r.fields.map((f) => ({ name: f.name, dataTypeID: f.dataTypeID })),
            rows: r.rows.map((row) => row.map((v) => (v === null || v === undefined ? null : String(v)))),
            affectedRows: r.affectedRows ?? 0,
          };
        },
        release,
      };
    },
    close: () => db.close(),
  };
}
