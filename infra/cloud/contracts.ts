/**
 * What the stacks must agree on with the code they deploy: the controller table's key schema and
 * TTL attribute, the prober's key prefix, and the CloudWatch metric names and dimensions the
 * functions emit. Everything is taken from the shared modules that define it, so the dashboard,
 * alarms and grants follow the code.
 */
import { APP_SECRET_VARIABLE as APP_SECRET_ENV } from '#shared/catalog/app-role.js';
import { DIMENSION, METRIC } from '#shared/controller/metrics.js';
import { PROBE_PREFIX as PROBER_PREFIX } from '#shared/controller/prober.js';
import { TTL_ATTRIBUTE } from '#shared/controller/dynamo-store.js';
import { METRICS_NAMESPACE, SERVICE_NAME } from '#shared/observability.js';
import { chunkKey } from '#shared/storage/ports.js';

/** Variable naming the runtime role's secret, read by the migrate function. */
export const APP_SECRET_VARIABLE: string = APP_SECRET_ENV;

export const TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: TTL_ATTRIBUTE } as const;

/** Object key prefix the prober writes and reads back (never a chunk). */
export const PROBE_PREFIX: string = PROBER_PREFIX;

/** Object key prefix of every chunk (`chunks/<owner>/<hash>`). */
export const CHUNK_PREFIX: string = `${chunkKey('owner', 'hash').split('/')[0]}/`;

export const METRICS = {
  namespace: METRICS_NAMESPACE,
  /** Dimensions Powertools adds to every metric (the service name). */
  baseDimensions: { service: SERVICE_NAME } as Record<string, string>,
  /** Dimension that names a replica region. */
  regionDimension: DIMENSION.region,
  /** Dimension that names a consistency mode (C, H, A). */
  modeDimension: DIMENSION.mode,
  /** Current mode as a number (C = 0, H = 1, A = 2). */
  mode: METRIC.mode,
  score: METRIC.score,
  /** Score inputs, each in [0,1]. */
  scoreParts: Object.values(METRIC.inputs) as readonly string[],
  /** Probe latency (ms) and reachability (1/0), per region. */
  probeLatency: METRIC.probeLatency,
  reachable: METRIC.reachable,
  unreachableReplicas: METRIC.unreachable,
  /** Pending placements, and age of the oldest. */
  backlog: METRIC.backlog,
  lag: METRIC.replicationLagMs,
  /** Write latency (ms), per mode. */
  writeLatency: METRIC.writeLatency,
  /** Lag is emitted in milliseconds: units per second. */
  lagPerSecond: 1000,
} as const;
