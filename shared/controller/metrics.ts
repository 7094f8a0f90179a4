/**
 * Controller metrics (CloudWatch Embedded Metric Format through Powertools; stdout locally).
 * The names and dimensions below are the contract with the CDK dashboard and alarms
 * (infra/cloud/contracts.ts METRICS holds the same values).
 *
 *   namespace EchoFS (METRICS_NAMESPACE), plus the Powertools 'service' dimension
 *   ControllerMode       Count         —        0 = C, 1 = H, 2 = A
 *   ControllerScore      None          —        the policy score
 *   PartitionRisk, ReplicationLagInput, WriteRateInput, HintInput, ChangePenalty
 *                        None          —        the policy inputs, each in [0,1]
 *   ModeTransitions      Count         —        1 when the tick changed the mode
 *   UnreachableReplicas  Count         —        replicas judged unreachable
 *   ReplicationBacklog   Count         —        pending chunk placements
 *   ReplicationLagMs     Milliseconds  —        age of the oldest pending placement
 *   ProbeLatency         Milliseconds  region   one successful probe's write+read latency
 *   ReplicaReachable     Count         region   1 reachable, 0 unreachable (the judgement)
 *   WriteLatency         Milliseconds  mode     acknowledged write latency by mode (files path)
 */
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { metrics as sharedMetrics, MetricUnit } from '../observability.js';
import type { Mode } from '../config.js';
import type { PolicyInputs } from './policy.js';

export const METRIC = {
  mode: 'ControllerMode',
  score: 'ControllerScore',
  inputs: {
    partition: 'PartitionRisk',
    lag: 'ReplicationLagInput',
    writes: 'WriteRateInput',
    hint: 'HintInput',
    penalty: 'ChangePenalty',
  },
  transitions: 'ModeTransitions',
  unreachable: 'UnreachableReplicas',
  backlog: 'ReplicationBacklog',
  replicationLagMs: 'ReplicationLagMs',
  probeLatency: 'ProbeLatency',
  reachable: 'ReplicaReachable',
  writeLatency: 'WriteLatency',
} as const;

export const DIMENSION = { region: 'region', mode: 'mode' } as const;

export const MODE_VALUE: Record<Mode, number> = { C: 0, H: 1, A: 2 };

export interface TickMetrics {
  mode: Mode;
  score: number;
  inputs: PolicyInputs;
  changed: boolean;
  backlog: number;
  lagMs: number;
  probes: { region: string; latencyMs?: number; reachable: boolean }[];
}

/** Where the controller sends its metrics; tests pass a recording fake. */
export interface ControllerMetrics {
  tick(m: TickMetrics): void;
  writeLatency(mode: Mode, ms: number): void;
}

/**
 * The EMF implementation over a Powertools instance: one line for a tick's global metrics, one per
 * region, and one per acknowledged write. The write's line comes from one single-metric instance
 * made on first use and reused: each addMetric publishes its line and clears the dimension added
 * for it (a new instance per write cost about a quarter of a millisecond on the write's path).
 */
export function emfControllerMetrics(metrics: Metrics): ControllerMetrics {
  let writeLine: Metrics | undefined;
  return {
    tick(m) {
      // Buffered on the shared instance and flushed as one line; per-region metrics below use
      // singleMetric(), which flushes each with its own Region dimension.
      metrics.addMetric(METRIC.mode, MetricUnit.Count, MODE_VALUE[m.mode]);
      metrics.addMetric(METRIC.score, MetricUnit.NoUnit, m.score);
      for (const [k, name] of Object.entries(METRIC.inputs)) metrics.addMetric(name, MetricUnit.NoUnit, m.inputs[k as keyof PolicyInputs]);
      metrics.addMetric(METRIC.transitions, MetricUnit.Count, m.changed ? 1 : 0);
      metrics.addMetric(METRIC.unreachable, MetricUnit.Count, m.probes.filter((p) => !p.reachable).length);
      metrics.addMetric(METRIC.backlog, MetricUnit.Count, m.backlog);
      metrics.addMetric(METRIC.replicationLagMs, MetricUnit.Milliseconds, m.lagMs);
      metrics.publishStoredMetrics();
      for (const p of m.probes) {
        const r = metrics.singleMetric();
        r.addDimension(DIMENSION.region, p.region);
        r.addMetric(METRIC.reachable, MetricUnit.Count, p.reachable ? 1 : 0);
        if (p.latencyMs !== undefined) {
          const l = metrics.singleMetric();
          l.addDimension(DIMENSION.region, p.region);
          l.addMetric(METRIC.probeLatency, MetricUnit.Milliseconds, p.latencyMs);
        }
      }
    },
    writeLatency(mode, ms) {
      writeLine ??= metrics.singleMetric();
      writeLine.addDimension(DIMENSION.mode, mode);
      writeLine.addMetric(METRIC.writeLatency, MetricUnit.Milliseconds, ms);
    },
  };
}

/** The metrics of every function and the local runtime, on the shared Powertools instance. */
export const emfMetrics: ControllerMetrics = emfControllerMetrics(sharedMetrics);

let sink: ControllerMetrics = emfMetrics;

/** Replace the metrics sink (tests, or a runtime that collects metrics itself). */
export function setControllerMetrics(m: ControllerMetrics): void {
  sink = m;
}

export function controllerMetrics(): ControllerMetrics {
  return sink;
}

/** Called by the files path after each acknowledged write. */
export function recordWriteLatency(mode: Mode, ms: number): void {
  try {
    sink.writeLatency(mode, ms);
  } catch {
    // Metrics never fail a write.
  }
}
