/**
 * Wire bodies of health, the consistency controller (status, mode, hints, overrides, critical
 * keys, audit) and local fault injection. Re-exported by shared/wire/responses.ts, which maps each
 * route to its bodies.
 */
import { z } from 'zod';
import { faultStateEnum, hintEnum, iso, modeEnum, published } from './common-bodies.js';

// ---------------------------------------------------------------- health

const componentStatus = z.enum(['up', 'degraded', 'down']);
const component = z.object({ ok: z.boolean(), status: componentStatus.optional(), error: z.string().optional().meta({ description: 'Admins only.' }) });

export const serviceHealthBody = z
  .object({
    success: z.boolean(),
    status: z.enum(['ok', 'degraded', 'down']),
    catalog: component,
    replicas: z.record(
      z.string(),
      component.extend({ latencyMs: z.number().optional().meta({ description: 'Admins only.' }) }),
    ),
    quorum: z.number().int(),
    controller: component.optional(),
  })
  .meta({ id: 'ServiceHealth', description: 'Anonymous callers see a status per component; admins also see latencies and error text.' });
export type ServiceHealthBody = z.infer<typeof serviceHealthBody>;

export const replicaViewBody = z
  .object({
    region: z.string(),
    reachable: z.boolean(),
    status: componentStatus.optional(),
    latency_ewma_ms: z.number().nullable().optional(),
    latency_p50_ms: z.number().nullable().optional(),
    latency_p95_ms: z.number().nullable().optional(),
    error_rate: z.number().optional(),
    window_operations: z.number().int().optional().meta({ description: 'Operations the latency figures and the error rate were taken over.' }),
    consecutive_failures: z.number().int().optional(),
    last_ok_at: iso.nullable().optional(),
    last_error_at: iso.nullable().optional(),
    last_error: z.string().nullable().optional().meta({ description: "Error text for admins; 'unreachable' or null for everyone else." }),
  })
  .meta({ id: 'ReplicaView' });
export type ReplicaViewBody = z.infer<typeof replicaViewBody>;

export const controllerHealthBody = z
  .object({
    status: z.enum(['healthy', 'degraded', 'unhealthy']),
    mode: modeEnum.optional(),
    replicas: z.array(replicaViewBody),
    reachable: z.number().int(),
    total: z.number().int(),
    quorum_available: z.boolean(),
    controller_store: z.enum(['ok', 'unavailable']),
    timestamp: iso,
  })
  .meta({ id: 'ControllerHealth' });
export type ControllerHealthBody = z.infer<typeof controllerHealthBody>;

// ---------------------------------------------------------------- controller

export const scoreParts = z
  .object({ partition: z.number(), lag: z.number(), writes: z.number(), hint: z.number(), penalty: z.number() })
  .meta({ id: 'ScoreParts', description: 'The controller inputs (each in [0,1]) or their weighted contributions (the penalty is negative).' });
export type ScoreParts = z.infer<typeof scoreParts>;

export const sampleBody = z.object({ at: z.number(), score: z.number(), proposed: modeEnum, emergency: z.boolean() }).meta({ id: 'Sample' });
export type SampleBody = z.infer<typeof sampleBody>;

export const auditEntryBody = z
  .looseObject({
    id: z.string(),
    at: z.number().meta({ description: 'Epoch ms.' }),
    kind: z.enum(['transition', 'operator']),
    actor: z.string(),
    action: z.string(),
    reason: z.string(),
    from: modeEnum.optional(),
    to: modeEnum.optional(),
    objectId: z.string().optional(),
    inputs: scoreParts.optional(),
    score: z.number().optional(),
    parts: scoreParts.optional(),
    detail: z.record(z.string(), z.unknown()).optional(),
  })
  .meta({ id: 'AuditEntry' });
export type AuditEntryBody = z.infer<typeof auditEntryBody>;

export const writePathBody = z
  .object({
    path: z.enum(['strong', 'deadline']).meta({ description: "Mode C's write path in the answering process: 'strong' waits for a majority; 'deadline' waits at most wait_ms, then acknowledges with the copies it has." }),
    reason: z.string(),
    since: iso.nullable().meta({ description: 'When the answering process last changed path; null when it never did.' }),
    wait_ms: z.number().nullable().meta({ description: 'Deadline path: how long a write waits for a majority.' }),
    fastest_ms: z.number().nullable().meta({ description: "The fastest replica's write latency estimate." }),
    majority_ms: z.number().nullable().meta({ description: "The majority-th fastest replica's write latency estimate (null: unreachable)." }),
    budget_ms: z.number().meta({ description: 'ECHOFS_DURABILITY_BUDGET_MS: the deadline path is taken only while the majority-th estimate is within it.' }),
    replicas: z.array(
      z.object({
        region: z.string(),
        reachable: z.boolean(),
        estimate_ms: z.number().nullable().meta({ description: 'Median of recent successful chunk writes, raised to the age of the oldest write in flight; null when unknown or unreachable.' }),
        p50_ms: z.number().nullable(),
        p95_ms: z.number().nullable(),
        in_flight_ms: z.number().nullable(),
        samples: z.number().int(),
      }),
    ),
    last_change: z
      .object({ at: iso, path: z.enum(['strong', 'deadline']).nullable(), reason: z.string() })
      .nullable()
      .meta({ description: "The newest write path change in the audit log (any process's), if among the recent entries." }),
  })
  .meta({ id: 'WritePath', description: "The latency-aware write path of the controller's strong mode; estimates are the answering process's own observations." });
export type WritePathBody = z.infer<typeof writePathBody>;

export const statusBody = z
  .looseObject({
    mode: modeEnum,
    reason: z.string().meta({ description: 'Why the mode in force holds, written with the mode by the decision that set or kept it; empty before the first decision.' }),
    score: z.number().nullable(),
    parts: scoreParts.nullable(),
    inputs: scoreParts.nullable(),
    thresholds: z.object({ available_above: z.number(), strong_below: z.number() }),
    hysteresis_samples: z.number().int(),
    samples: z.array(sampleBody),
    version: z.number().int(),
    changed_at: iso.nullable(),
    updated_at: iso.nullable(),
    global_override: modeEnum.nullable(),
    object_overrides: z.number().int(),
    critical_keys: z.number().int(),
    replicas: z.array(replicaViewBody),
    backlog: z.looseObject({ pending: z.number().int(), missing: z.number().int() }),
    replication_lag_ms: z.number(),
    transitions: z.array(auditEntryBody),
    timestamp: iso,
    weights: scoreParts.meta({ description: 'The weights of the score (configuration); the penalty weight is subtracted.' }),
    emergency_partition: z.number(),
    health_window: z.object({ operations: z.number().int().meta({ description: "Replica latency and error rates are over each replica's last this-many operations." }) }),
    object_override_list: z.array(z.object({ object_id: z.string(), mode: modeEnum, actor: z.string(), at: iso })),
    hints: z.array(z.object({ object_id: z.string(), hint: z.enum(['strong', 'available']) })),
    emergency: z.boolean(),
    write_path: writePathBody,
  })
  .meta({ id: 'ControllerStatus' });
export type StatusBody = z.infer<typeof statusBody>;

export const modeBody = z
  .object({
    object_id: z.string().nullable().meta(published('The object asked about.')),
    mode: modeEnum.meta(published('C, H or A.')),
    reason: z.string().meta(published('Why this mode.')),
    timestamp: iso.meta(published('ISO 8601.')),
  })
  .meta({ id: 'ModeAnswer' });
export type ModeBody = z.infer<typeof modeBody>;

/** What a stored hint, override or critical key protects. */
export const protectsBody = z
  .object({
    key: z.string().meta({ description: "The key stored and matched (a file id is stored as '<owner id>/<name>')." }),
    file_id: z.string().nullable().meta({ description: 'The file id given, or null when a name or prefix was given.' }),
    owner_id: z.string().nullable().meta({ description: "The owner whose file is meant, or null: a bare name or prefix matches every owner's files." }),
    name: z.string().meta({ description: "The file name, or the prefix without its '*'." }),
    prefix: z.boolean(),
  })
  .meta({ id: 'Protects' });
export type ProtectsBody = z.infer<typeof protectsBody>;

export const hintAck = z
  .object({ success: z.literal(true), status: z.literal('success'), object_id: z.string(), hint: hintEnum, mode: modeEnum, protects: protectsBody.optional() })
  .meta({ id: 'HintAck' });
export type HintAck = z.infer<typeof hintAck>;

export const overrideAck = z
  .object({ success: z.literal(true), status: z.literal('success'), mode: modeEnum, object_id: z.string().nullable(), protects: protectsBody.nullable().optional() })
  .meta({ id: 'OverrideAck' });
export type OverrideAck = z.infer<typeof overrideAck>;

export const overrideClearedBody = z.object({ success: z.literal(true), cleared: z.boolean(), object_id: z.string().nullable() }).meta({ id: 'OverrideCleared' });
export type OverrideClearedBody = z.infer<typeof overrideClearedBody>;

export const criticalKeysBody = z
  .object({
    success: z.literal(true),
    critical_keys: z.array(z.string()).meta(published('The always-strong keys.')),
    count: z.number().int(),
    items: z.array(z.object({ key: z.string(), added_by: z.string(), added_at: iso })),
  })
  .meta({ id: 'CriticalKeys' });
export type CriticalKeysBody = z.infer<typeof criticalKeysBody>;

export const criticalKeyAddedBody = z.object({ success: z.literal(true), key: z.string(), mode: z.literal('C'), protects: protectsBody }).meta({ id: 'CriticalKeyAdded' });
export type CriticalKeyAddedBody = z.infer<typeof criticalKeyAddedBody>;
export const criticalKeyRemovedBody = z.object({ success: z.literal(true), key: z.string(), protects: protectsBody }).meta({ id: 'CriticalKeyRemoved' });
export type CriticalKeyRemovedBody = z.infer<typeof criticalKeyRemovedBody>;

export const auditPageBody = z
  .object({
    success: z.literal(true),
    entries: z.array(auditEntryBody.extend({ time: iso })),
    next_cursor: z.string().nullable(),
  })
  .meta({ id: 'AuditPage' });
export type AuditPageBody = z.infer<typeof auditPageBody>;

export const historySampleBody = z
  .object({ at: z.number().meta({ description: 'Epoch ms.' }), score: z.number(), parts: scoreParts, proposed: modeEnum, mode: modeEnum, emergency: z.boolean() })
  .meta({ id: 'HistorySample' });
export const historyEventBody = z
  .object({
    id: z.string(),
    at: z.number().meta({ description: 'Epoch ms.' }),
    kind: z.enum(['mode_change', 'override_set', 'override_cleared', 'critical_key_added', 'critical_key_removed', 'hint_set', 'fault_injected', 'fault_healed']),
    actor: z.string(),
    reason: z.string(),
    from: modeEnum.optional(),
    to: modeEnum.optional(),
    object_id: z.string().optional(),
    region: z.string().optional(),
    emergency: z.boolean().optional(),
  })
  .meta({ id: 'HistoryEvent' });
export const historyBody = z
  .object({
    success: z.literal(true),
    from: iso,
    to: iso,
    window_ms: z.number().int(),
    max_window_ms: z.number().int(),
    bucket_ms: z.number().int().meta({ description: '0: every sample; else the samples were reduced to buckets this wide (the highest score of each).' }),
    samples: z.array(historySampleBody),
    events: z.array(historyEventBody),
    truncated: z.boolean(),
  })
  .meta({ id: 'History' });
export type HistoryBody = z.infer<typeof historyBody>;

// ---------------------------------------------------------------- local fault injection

export const faultSettingsBody = z
  .object({ state: faultStateEnum, latency_ms: z.number(), jitter_ms: z.number(), loss: z.number() })
  .meta({ id: 'FaultSettings' });
export type FaultSettingsBody = z.infer<typeof faultSettingsBody>;

export const faultsBody = z.object({ success: z.literal(true), faults: z.record(z.string(), faultSettingsBody) }).meta({ id: 'Faults' });
export type FaultsBody = z.infer<typeof faultsBody>;
export const faultSetBody = z.object({ success: z.literal(true), region: z.string(), fault: faultSettingsBody }).meta({ id: 'FaultSet' });
export type FaultSetBody = z.infer<typeof faultSetBody>;
