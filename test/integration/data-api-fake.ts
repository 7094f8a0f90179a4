/**
 * A stand-in for the RDS Data API client that runs the statements on PGlite, so the catalog's
 * Data API path (the cloud's) runs in tests: `:1`-style parameters, typed field values,
 * column metadata, and BeginTransaction / CommitTransaction / RollbackTransaction.
 * Transactions are serialised: one at a time, as PGlite has a single connection.
 */
import type { PGlite } from '@electric-sql/pglite';
import type { RDSDataClient } from '@aws-sdk/client-rds-data';

interface Field {
  isNull?: boolean;
  stringValue?: string;
  longValue?: number;
  doubleValue?: number;
  booleanValue?: boolean;
}

interface Command {
  constructor: { name: string };
  input: {
    sql?: string;
    transactionId?: string;
    includeResultMetadata?: boolean;
    parameters?: { name?: string; value?: Field; typeHint?: string }[];
  };
}

const CASTS: Record<string, string> = { UUID: 'uuid', TIMESTAMP: 'timestamp', JSON: 'jsonb', DATE: 'date', DECIMAL: 'numeric' };

function fromField(f: Field | undefined): unknown {
  if (!f || f.isNull) return null;
  return f.stringValue ?? f.longValue ?? f.doubleValue ?? f.booleanValue ?? null;
}

function toField(v: unknown): Field {
  if (v === null || v === undefined) return { isNull: true };
  if (typeof v === 'boolean') return { booleanValue: v };
  if (typeof v === 'number') return Number.isInteger(v) ? { longValue: v } : { doubleValue: v };
  if (typeof v === 'bigint') return { longValue: Number(v) };
  // The Data API returns timestamps as UTC text without a zone.
  if (v instanceof Date) return { stringValue: v.toISOString().replace('T', ' ').replace('Z', '') };
  if (typeof v === 'object') return { stringValue: JSON.stringify(v) };
  return { stringValue: String(v) };
}

export function fakeDataApiClient(pglite: PGlite): RDSDataClient & { statements: string[] } {
  let txSeq = 0;
  let current: string | undefined;
  let queue: Promise<void> = Promise.resolve();
  let release: (() => void) | undefined;
  const statements: string[] = [];

  async function execute(input: Command['input']) {
    if (input.transactionId && input.transactionId !== current) throw new Error(`unknown transaction ${input.transactionId}`);
    if (!input.transactionId) await queue; // outside a transaction: wait for the running one
    const params = input.parameters ?? [];
    const text = (input.sql ?? '').replace(/(?<!:):(\d+)/g, (_m, n: string) => {
      const hint = params[Number(n) - 1]?.typeHint;
      const cast = hint ? CASTS[hint] : undefined;
      return cast ? `$${n}::${cast}` : `$${n}`;
    });
    statements.push(text);
    const res = await pglite.query<unknown[]>(text, params.map((p) => fromField(p.value)), { rowMode: 'array' });
    return {
      records: res.rows.map((row) => row.map(toField)),
      columnMetadata: input.includeResultMetadata ? res.fields.map((f) => ({ name: f.name })) : undefined,
      numberOfRecordsUpdated: res.affectedRows ?? 0,
    };
  }

  const client = {
    statements,
    async send(command: Command): Promise<unknown> {
      switch (command.constructor.name) {
        case 'ExecuteStatementCommand':
          return execute(command.input);
        case 'BeginTransactionCommand': {
          const previous = queue;
          queue = new Promise<void>((r) => (release = r));
          await previous;
          current = `tx-${++txSeq}`;
          await pglite.exec('BEGIN');
          return { transactionId: current };
        }
        case 'CommitTransactionCommand':
        case 'RollbackTransactionCommand': {
          if (command.input.transactionId !== current) throw new Error(`unknown transaction ${command.input.transactionId}`);
          await pglite.exec(command.constructor.name === 'CommitTransactionCommand' ? 'COMMIT' : 'ROLLBACK');
          current = undefined;
          release?.();
          return { transactionStatus: 'done' };
        }
        default:
          throw new Error(`fake Data API: unsupported command ${command.constructor.name}`);
      }
    },
    destroy() {},
  };
  return client as unknown as RDSDataClient & { statements: string[] };
}
