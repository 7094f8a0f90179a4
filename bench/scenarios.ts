/**
 * What the benchmark runs: strategies, latency profiles and fault scenarios, with the durations
 * that keep the default run under ten minutes on two cores (and a smoke preset that takes seconds).
 */

export type StrategyName = 'strong' | 'available' | 'adaptive';
export const STRATEGIES: readonly StrategyName[] = ['strong', 'available', 'adaptive'];

export const STRATEGY_TITLES: Record<StrategyName, string> = {
  strong: 'fixed strong (C)',
  available: 'fixed available (A)',
  adaptive: 'adaptive',
};

export interface FaultSpec {
  state?: 'up' | 'refuse' | 'blackhole';
  /** Added on top of the profile's latency for that replica. */
  extraLatencyMs?: number;
  jitterMs?: number;
  loss?: number;
}

export interface LatencyProfile {
  name: string;
  /** Round trip added by the fault proxy in front of each replica, by region order. */
  latencyMs: number[];
  jitterMs: number;
}

export interface ScenarioTimings {
  /** Length of a steady scenario (normal, delay, heavy). */
  steadyMs: number;
  /** Partition scenarios: healthy lead-in, fault window, time measured after heal. */
  beforeMs: number;
  faultMs: number;
  afterMs: number;
  /** Longest wait for the backlog to drain after heal. */
  convergenceTimeoutMs: number;
}

export interface Scenario {
  name: string;
  title: string;
  /** Writes and reads per second (open loop). */
  writeRate: number;
  readRate: number;
  /** Faults by region index; applied at fault start, removed at heal. */
  faults: Record<number, FaultSpec>;
  /** A fault window with a heal (charted); otherwise the faults hold for the whole run. */
  partition: boolean;
  /** The published scenario this one reproduces, if any. */
  published?: string;
  /** Client concurrency bound for this scenario (default: the workload's). */
  maxInFlight?: number;
}

export interface Workload {
  /** Objects written (each write is a new version of one of them). */
  keys: number;
  minBytes: number;
  maxBytes: number;
  /** Most writes, and most reads, in flight at once; arrivals beyond it are shed and counted. */
  maxInFlight: number;
  /** Client-side timeout for one request. */
  requestTimeoutMs: number;
  writeRate: number;
  readRate: number;
}

export const DEFAULT_WORKLOAD: Workload = {
  keys: 8,
  minBytes: 4 * 1024,
  maxBytes: 64 * 1024,
  maxInFlight: 16,
  requestTimeoutMs: 10_000,
  writeRate: 10,
  readRate: 20,
};

export const DEFAULT_TIMINGS: ScenarioTimings = {
  steadyMs: 6_000,
  beforeMs: 2_000,
  faultMs: 7_000,
  afterMs: 3_000,
  convergenceTimeoutMs: 20_000,
};

/**
 * `--smoke`: every scenario runs, each fault is applied and healed, and the checker reads every
 * acknowledged write back; the windows are only long enough for a few operations in each phase
 * (the figures mean nothing at this length).
 */
export const SMOKE_TIMINGS: ScenarioTimings = {
  steadyMs: 300,
  beforeMs: 150,
  faultMs: 500,
  afterMs: 150,
  convergenceTimeoutMs: 1_000,
};

/** `--quick`: the geo profile's delay-1 and isolate-1 only, with short windows (about two minutes). */
export const QUICK_TIMINGS: ScenarioTimings = {
  steadyMs: 5_000,
  beforeMs: 1_500,
  faultMs: 5_000,
  afterMs: 1_500,
  convergenceTimeoutMs: 10_000,
};
export const QUICK_SCENARIOS: readonly string[] = ['delay-1', 'isolate-1'];

/** What the adaptive strategy is held to beside the better fixed one (printed, never asserted). */
export const TARGETS = {
  /** Adaptive write P50 and P95 at most this many times the better fixed strategy's (lower P50; lower P95). */
  latencyRatio: 1.2,
  /** Durability window P95 (ack → a majority holds the write), ms. */
  durabilityP95Ms: 2_000,
} as const;

export const PROFILES: Record<string, LatencyProfile> = {
  lan: { name: 'lan', latencyMs: [0, 0, 0], jitterMs: 0 },
  geo: { name: 'geo', latencyMs: [2, 70, 180], jitterMs: 0 },
};

/** Region 0 is the closest replica in `geo`: faults hit the replicas the system leans on most. */
export function scenarios(w: Workload): Scenario[] {
  const delay: FaultSpec = { extraLatencyMs: 200, loss: 0.1 };
  return [
    { name: 'normal', title: 'normal', writeRate: w.writeRate, readRate: w.readRate, faults: {}, partition: false, published: 'normal' },
    { name: 'delay-1', title: '+200 ms, 10% loss on 1 replica', writeRate: w.writeRate, readRate: w.readRate, faults: { 0: delay }, partition: false, published: 'delay' },
    { name: 'delay-2', title: '+200 ms, 10% loss on 2 replicas', writeRate: w.writeRate, readRate: w.readRate, faults: { 0: delay, 1: delay }, partition: false },
    { name: 'isolate-1', title: '1 replica black-holed, then healed', writeRate: w.writeRate, readRate: w.readRate, faults: { 0: { state: 'blackhole' } }, partition: true, published: 'partition' },
    { name: 'isolate-2', title: 'majority black-holed, then healed', writeRate: w.writeRate, readRate: w.readRate, faults: { 0: { state: 'blackhole' }, 1: { state: 'blackhole' } }, partition: true },
    { name: 'heavy', title: 'heavy writes, 100 ops/s', writeRate: 100, readRate: w.readRate, faults: {}, partition: false, published: 'heavy', maxInFlight: Math.max(w.maxInFlight, 48) },
  ];
}

/** The table the original system published (fixed strong vs adaptive). */
export const PUBLISHED = {
  source: 'original EchoFS write-up (fixed strong / adaptive)',
  rows: [
    { metric: 'P50 write latency, normal', strong: '8 ms', adaptive: '8 ms' },
    { metric: 'P95 write latency, normal', strong: '45 ms', adaptive: '45 ms' },
    { metric: 'P50 write latency, partition', strong: '95 ms', adaptive: '15 ms' },
    { metric: 'P95 write latency, partition', strong: '380 ms', adaptive: '48 ms' },
    { metric: 'availability during partition', strong: '87.5%', adaptive: '99.6%' },
    { metric: 'stale reads during partition', strong: '0%', adaptive: '4.6%' },
    { metric: 'convergence after heal', strong: '–', adaptive: '2.3 s (average)' },
  ],
} as const;

/** Quorum arithmetic: majority of N. */
export const majority = (n: number): number => Math.floor(n / 2) + 1;

/**
 * The physical floor of a write: one round trip to the fastest replica (one ack) and to the
 * majority-th fastest (Q acks), from the added latencies in force; Infinity when too few replicas
 * are reachable.
 */
export function physicalFloor(latencies: readonly (number | null)[]): { fastest: number; majorityTh: number } {
  const reachable = latencies.filter((l): l is number => l !== null).sort((a, b) => a - b);
  const q = majority(latencies.length);
  return {
    fastest: reachable.length > 0 ? (reachable[0] as number) : Number.POSITIVE_INFINITY,
    majorityTh: reachable.length >= q ? (reachable[q - 1] as number) : Number.POSITIVE_INFINITY,
  };
}
