/**
 * The ControllerStore adapter for DynamoDB (dynalite locally), one table:
 *
 *   pk        sk                    item
 *   CTRL      STATE                 mode, version, samples, changedAt, last inputs/score
 *   CTRL      OVERRIDE#*            the global override
 *   CTRL      OVERRIDE#<object>     a per-object override
 *   CTRL      CRITICAL#<key>        a critical key
 *   CTRL      HEALTH#<region>       the prober's per-replica health snapshot
 *   HINT      <object>              a user hint
 *   AUDIT     <iso time>#<id>       audit entry (TTL), read newest first
 *   SAMPLE    <iso time>#<version>  controller sample for the history (TTL 24 h, history.ts)
 *
 * Everything the hot path needs is in the CTRL and HINT partitions, read together (two Queries
 * in parallel) into one snapshot, so one refresh serves every write until the cache lease ends. Transitions are conditional on the expected version and mode, so two deciders
 * never both switch.
 */
import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  type DynamoDBDocumentClient,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import type { Mode } from '../config.js';
import { BadRequest } from '../errors.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { ReplicaHealth } from './health.js';
import { HISTORY_TTL_MS, type HistorySample, type HistoryWindow } from './history.js';
import { initialState, type ControllerState, type Hint, type PolicyInputs, type ScoreParts } from './policy.js';
import type { AuditEntry, AuditPage, ControllerStore, ControlSnapshot, OverrideInfo } from './store.js';

export const TTL_ATTRIBUTE = 'ttl';
const CTRL = 'CTRL';
const STATE = 'STATE';

export interface StoreOptions {
  client: DynamoDBClient;
  doc: DynamoDBDocumentClient;
  table: string;
  auditTtlDays?: number;
  clock?: Clock;
}

type Item = Record<string, unknown>;

export class DynamoControllerStore implements ControllerStore {
  readonly table: string;
  private readonly client: DynamoDBClient;
  private readonly doc: DynamoDBDocumentClient;
  private readonly auditTtlSeconds: number;
  private readonly clock: Clock;

  constructor(o: StoreOptions) {
    this.client = o.client;
    this.doc = o.doc;
    this.table = o.table;
    this.auditTtlSeconds = (o.auditTtlDays ?? 90) * 86_400;
    this.clock = o.clock ?? systemClock;
  }

  /** Create the table when it does not exist (local use; the cloud table comes from CDK). */
  async ensureTable(): Promise<void> {
    try {
      await this.client.send(new DescribeTableCommand({ TableName: this.table }));
      return;
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException) && (err as Error).name !== 'ResourceNotFoundException') throw err;
    }
    try {
      await this.client.send(
        new CreateTableCommand({
          TableName: this.table,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
        }),
      );
    } catch (err) {
      // Another process created it first.
      if ((err as Error).name !== 'ResourceInUseException') throw err;
    }
    for (let i = 0; i < 100; i++) {
      const d = await this.client.send(new DescribeTableCommand({ TableName: this.table }));
      if (d.Table?.TableStatus === 'ACTIVE') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    try {
      await this.client.send(
        new UpdateTimeToLiveCommand({ TableName: this.table, TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true } }),
      );
    } catch {
      // dynalite does not implement TTL; expired items are also filtered on read.
    }
  }

  /** Release the store's clients (their kept-alive connections); the store is not used again. */
  destroy(): void {
    this.doc.destroy();
    this.client.destroy();
  }

  /** Resolves when the table answers; rejects otherwise (health checks). */
  async ping(): Promise<void> {
    await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: CTRL, sk: STATE } }));
  }

  // ---- controller state ------------------------------------------------------------------

  async getState(): Promise<ControllerState> {
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: CTRL, sk: STATE }, ConsistentRead: true }));
    return r.Item ? toState(r.Item) : initialState();
  }

  /**
   * Persist `next` only if the stored state still has `expected`'s version and mode.
   * Returns false when another decider got there first.
   */
  async saveState(next: ControllerState, expected: Pick<ControllerState, 'version' | 'mode'>): Promise<boolean> {
    const condition =
      expected.version === 0
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: '#v = :v AND #m = :m',
            ExpressionAttributeNames: { '#v': 'version', '#m': 'mode' },
            ExpressionAttributeValues: { ':v': expected.version, ':m': expected.mode },
          };
    try {
      await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: CTRL, sk: STATE, ...next }, ...condition }));
      return true;
    } catch (err) {
      if ((err as Error).name === 'ConditionalCheckFailedException') return false;
      throw err;
    }
  }

  /** State, overrides, critical keys, health (the CTRL partition) and hints, in one consistent read of each. */
  async snapshot(): Promise<ControlSnapshot> {
    const [items, hints] = await Promise.all([this.queryAll(CTRL), this.queryAll('HINT')]);
    const snap: ControlSnapshot = { state: initialState(), objectOverrides: new Map(), criticalKeys: new Map(), hints: new Map(), health: [] };
    for (const it of hints) {
      if (it.hint === 'strong' || it.hint === 'available') snap.hints.set(String(it.sk), it.hint);
    }
    for (const it of items) {
      const sk = String(it.sk);
      if (sk === STATE) snap.state = toState(it);
      else if (sk === 'OVERRIDE#*') snap.globalOverride = toOverride(it);
      else if (sk.startsWith('OVERRIDE#')) snap.objectOverrides.set(sk.slice(9), toOverride(it));
      else if (sk.startsWith('CRITICAL#')) snap.criticalKeys.set(sk.slice(9), { key: sk.slice(9), actor: String(it.actor ?? ''), at: Number(it.at ?? 0) });
      else if (sk.startsWith('HEALTH#')) snap.health.push(toHealth(it));
    }
    return snap;
  }

  // ---- overrides and critical keys -----------------------------------------------------------

  async setOverride(mode: Mode, actor: string, objectId?: string): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: CTRL, sk: overrideSk(objectId), mode, actor, at: this.clock.now() } }));
  }

  /** Returns the override that was removed, if any. */
  async clearOverride(objectId?: string): Promise<OverrideInfo | undefined> {
    const r = await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk: CTRL, sk: overrideSk(objectId) }, ReturnValues: 'ALL_OLD' }));
    return r.Attributes ? toOverride(r.Attributes) : undefined;
  }

  async addCriticalKey(key: string, actor: string): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: CTRL, sk: `CRITICAL#${key}`, actor, at: this.clock.now() } }));
  }

  /** Returns true when the key was critical. */
  async removeCriticalKey(key: string): Promise<boolean> {
    const r = await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk: CTRL, sk: `CRITICAL#${key}` }, ReturnValues: 'ALL_OLD' }));
    return r.Attributes !== undefined;
  }

  // ---- health --------------------------------------------------------------------------------

  async putHealth(snapshots: readonly ReplicaHealth[]): Promise<void> {
    await Promise.all(
      snapshots.map((s) => this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: CTRL, sk: `HEALTH#${s.region}`, ...s } }))),
    );
  }

  // ---- hints ---------------------------------------------------------------------------------

  async getHint(objectId: string): Promise<Hint> {
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk: 'HINT', sk: objectId } }));
    const h = r.Item?.hint;
    return h === 'strong' || h === 'available' ? h : 'none';
  }

  /** 'none' removes the hint. */
  async setHint(objectId: string, hint: Hint, actor: string): Promise<void> {
    if (hint === 'none') {
      await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk: 'HINT', sk: objectId } }));
    } else {
      await this.doc.send(new PutCommand({ TableName: this.table, Item: { pk: 'HINT', sk: objectId, hint, actor, at: this.clock.now() } }));
    }
  }

  /** Counts of hinted objects (for the aggregate hint input); reads at most `cap` hints. */
  async hintStats(cap = 10_000): Promise<{ strong: number; available: number }> {
    const out = { strong: 0, available: 0 };
    let seen = 0;
    await this.queryPages(
      () => ({ KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': 'HINT' }, ProjectionExpression: 'hint' }),
      (items) => {
        for (const it of items) {
          if (it.hint === 'strong') out.strong++;
          else if (it.hint === 'available') out.available++;
        }
        seen += items.length;
        return seen < cap;
      },
    );
    return out;
  }

  // ---- audit ---------------------------------------------------------------------------------

  async appendAudit(e: Omit<AuditEntry, 'id' | 'at'> & { at?: number }): Promise<AuditEntry> {
    const at = e.at ?? this.clock.now();
    const entry: AuditEntry = { ...e, id: randomUUID(), at };
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: 'AUDIT', sk: `${new Date(at).toISOString()}#${entry.id}`, ...entry, [TTL_ATTRIBUTE]: Math.floor(at / 1000) + this.auditTtlSeconds },
      }),
    );
    return entry;
  }

  /** Newest first. */
  async listAudit(o: { limit?: number; cursor?: string } = {}): Promise<AuditPage> {
    const limit = Math.min(Math.max(o.limit ?? 50, 1), 500);
    let start: Item | undefined;
    if (o.cursor) {
      try {
        const sk = Buffer.from(o.cursor, 'base64url').toString('utf8');
        if (!/^\d{4}-\d\d-\d\dT[\d:.]+Z#[0-9a-f-]{36}$/.test(sk)) throw new Error('bad cursor');
        start = { pk: 'AUDIT', sk };
      } catch {
        throw new BadRequest("Field 'cursor' is invalid: pass the cursor of a previous page.", 'invalid_field', { field: 'cursor' });
      }
    }
    const nowSec = Math.floor(this.clock.now() / 1000);
    const entries: AuditEntry[] = [];
    const last = await this.queryPages(
      () => ({ KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': 'AUDIT' }, ScanIndexForward: false, Limit: limit - entries.length }),
      (items) => {
        for (const it of items) {
          if (Number(it[TTL_ATTRIBUTE] ?? Infinity) < nowSec) continue;
          entries.push(toAudit(it));
        }
        return entries.length < limit;
      },
      start,
    );
    return { entries, cursor: last ? Buffer.from(String(last.sk), 'utf8').toString('base64url') : undefined };
  }

  /** Audit entries of a time window (the timeline's events), oldest first. */
  async listAuditBetween(w: HistoryWindow, limit: number): Promise<{ entries: AuditEntry[]; truncated: boolean }> {
    const r = await this.newestBetween('AUDIT', w, limit);
    return { entries: r.items.map(toAudit), truncated: r.truncated };
  }

  // ---- history -------------------------------------------------------------------------------

  async recordSample(s: HistorySample): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: 'SAMPLE', sk: `${new Date(s.at).toISOString()}#${randomUUID().slice(0, 8)}`, ...s, [TTL_ATTRIBUTE]: Math.floor((s.at + HISTORY_TTL_MS) / 1000) },
      }),
    );
  }

  async listSamples(w: HistoryWindow, limit: number): Promise<{ samples: HistorySample[]; truncated: boolean }> {
    const r = await this.newestBetween('SAMPLE', w, limit);
    return { samples: r.items.map(toSample), truncated: r.truncated };
  }

  /**
   * The items of a time-keyed partition (sk '<iso time>#…') inside the window, newest first until
   * `limit`, answered oldest first; expired items (TTL deletion lags) are skipped.
   */
  private async newestBetween(pk: string, w: HistoryWindow, limit: number): Promise<{ items: Item[]; truncated: boolean }> {
    const nowSec = Math.floor(this.clock.now() / 1000);
    const items: Item[] = [];
    let truncated = false;
    await this.queryPages(
      () => ({
        KeyConditionExpression: 'pk = :p AND sk BETWEEN :a AND :b',
        ExpressionAttributeValues: { ':p': pk, ':a': new Date(w.from).toISOString(), ':b': `${new Date(w.to).toISOString()}~` },
        ScanIndexForward: false,
        Limit: Math.min(1000, limit + 1 - items.length),
      }),
      (page) => {
        for (const it of page) {
          if (Number(it[TTL_ATTRIBUTE] ?? Infinity) < nowSec) continue;
          if (items.length === limit) {
            truncated = true;
            break;
          }
          items.push(it);
        }
        return !truncated;
      },
    );
    return { items: items.reverse(), truncated };
  }

  private async queryAll(pk: string): Promise<Item[]> {
    const out: Item[] = [];
    await this.queryPages(
      () => ({ KeyConditionExpression: 'pk = :p', ExpressionAttributeValues: { ':p': pk }, ConsistentRead: true }),
      (items) => {
        out.push(...items);
        return true;
      },
    );
    return out;
  }

  /**
   * One Query on the table, page after page (each from where the last ended), while `onPage` asks
   * for more and the partition has more. `input` is read again for each page, so a page's Limit can
   * follow what was already taken. Answers the last page's LastEvaluatedKey: undefined once the
   * query is exhausted, else where the next page would start.
   */
  private async queryPages(
    input: () => Omit<QueryCommandInput, 'TableName' | 'ExclusiveStartKey'>,
    onPage: (items: Item[]) => boolean,
    start?: Item,
  ): Promise<Item | undefined> {
    let next = start;
    do {
      const r = await this.doc.send(new QueryCommand({ ...input(), TableName: this.table, ExclusiveStartKey: next }));
      next = r.LastEvaluatedKey;
      if (!onPage(r.Items ?? [])) break;
    } while (next);
    return next;
  }
}

function overrideSk(objectId: string | undefined): string {
  if (objectId === '*') throw new BadRequest("Field 'object_id' is invalid: '*' is reserved.", 'invalid_field', { field: 'object_id' });
  return `OVERRIDE#${objectId ?? '*'}`;
}

const MODES = new Set<Mode>(['C', 'H', 'A']);
const asMode = (v: unknown, def: Mode = 'C'): Mode => (MODES.has(v as Mode) ? (v as Mode) : def);

function toState(it: Item): ControllerState {
  return {
    mode: asMode(it.mode),
    version: Number(it.version ?? 0),
    samples: Array.isArray(it.samples) ? (it.samples as ControllerState['samples']) : [],
    changedAt: Number(it.changedAt ?? 0),
    updatedAt: Number(it.updatedAt ?? 0),
    lastInputs: it.lastInputs as PolicyInputs | undefined,
    lastParts: it.lastParts as ScoreParts | undefined,
    lastScore: it.lastScore === undefined ? undefined : Number(it.lastScore),
    reason: typeof it.reason === 'string' ? it.reason : undefined,
  };
}

function toOverride(it: Item): OverrideInfo {
  return { mode: asMode(it.mode), actor: String(it.actor ?? ''), at: Number(it.at ?? 0) };
}

function toHealth(it: Item): ReplicaHealth {
  const { pk: _pk, sk: _sk, ...rest } = it;
  return rest as unknown as ReplicaHealth;
}

function toSample(it: Item): HistorySample {
  return {
    at: Number(it.at ?? 0),
    score: Number(it.score ?? 0),
    parts: it.parts as ScoreParts,
    proposed: asMode(it.proposed),
    mode: asMode(it.mode),
    emergency: it.emergency === true,
  };
}

function toAudit(it: Item): AuditEntry {
  const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _ttl, ...rest } = it;
  return rest as unknown as AuditEntry;
}
