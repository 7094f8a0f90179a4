/**
 * The replica health picture: latency EWMA and percentiles over a window, error rate, and a
 * reachable/unreachable judgement with hysteresis (one lost probe does not flip it). Fed by the
 * prober and by the data path's own observations (HealthSink.observe).
 */
import { systemClock, type Clock } from '../clock.js';
import type { HealthSink } from '../storage/ports.js';

export interface ReplicaHealth {
  region: string;
  reachable: boolean;
  /** Latency EWMA of successful operations (ms); undefined before the first success. */
  ewmaMs?: number;
  p50Ms?: number;
  p95Ms?: number;
  /** Share of failed operations in the window, in [0,1]. */
  errorRate: number;
  /** Operations in the window. */
  samples: number;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  lastOkAt?: number;
  lastErrorAt?: number;
  lastError?: string;
  /** Epoch ms of the last observation. */
  updatedAt: number;
}

export interface HealthOptions {
  /** Consecutive failures before a reachable replica is judged unreachable. */
  failThreshold?: number;
  /** Consecutive successes before an unreachable replica is judged reachable again. */
  recoverThreshold?: number;
  /** Observations kept for percentiles and the error rate. */
  window?: number;
  /** EWMA weight of the newest latency. */
  alpha?: number;
  clock?: Clock;
}

interface Entry {
  reachable: boolean;
  ewma?: number;
  latencies: number[];
  outcomes: boolean[];
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  lastOkAt?: number;
  lastErrorAt?: number;
  lastError?: string;
  updatedAt: number;
}

export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

export class HealthTracker implements HealthSink {
  private readonly entries = new Map<string, Entry>();
  private readonly failThreshold: number;
  private readonly recoverThreshold: number;
  private readonly window: number;
  private readonly alpha: number;
  private readonly clock: Clock;
  private writes: number[] = [];

  constructor(regions: readonly string[] = [], o: HealthOptions = {}) {
    this.failThreshold = o.failThreshold ?? 2;
    this.recoverThreshold = o.recoverThreshold ?? 2;
    this.window = o.window ?? 50;
    this.alpha = o.alpha ?? 0.3;
    this.clock = o.clock ?? systemClock;
    for (const r of regions) this.entry(r);
  }

  /** Operations per replica that the percentiles and the error rate are taken over. */
  get windowSize(): number {
    return this.window;
  }

  private entry(region: string): Entry {
    let e = this.entries.get(region);
    if (!e) {
      // A replica never observed is presumed reachable: the first probes decide.
      e = { reachable: true, latencies: [], outcomes: [], consecutiveFailures: 0, consecutiveSuccesses: 0, updatedAt: 0 };
      this.entries.set(region, e);
    }
    return e;
  }

  observe(region: string, outcome: { ok: boolean; latencyMs: number; error?: string }): void {
    const e = this.entry(region);
    const t = this.clock.now();
    e.updatedAt = t;
    e.outcomes.push(outcome.ok);
    if (e.outcomes.length > this.window) e.outcomes.shift();
    if (outcome.ok) {
      const ms = Math.max(0, outcome.latencyMs);
      e.ewma = e.ewma === undefined ? ms : this.alpha * ms + (1 - this.alpha) * e.ewma;
      e.latencies.push(ms);
      if (e.latencies.length > this.window) e.latencies.shift();
      e.consecutiveSuccesses++;
      e.consecutiveFailures = 0;
      e.lastOkAt = t;
      if (!e.reachable && e.consecutiveSuccesses >= this.recoverThreshold) e.reachable = true;
    } else {
      e.consecutiveFailures++;
      e.consecutiveSuccesses = 0;
      e.lastErrorAt = t;
      e.lastError = outcome.error ?? 'failed';
      if (e.reachable && e.consecutiveFailures >= this.failThreshold) e.reachable = false;
    }
  }

  /** Latency EWMA of a region (ms), undefined before its first success. */
  ewma(region: string): number | undefined {
    return this.entries.get(region)?.ewma;
  }

  /** When the region last answered a call (epoch ms), if it has. */
  lastOkAt(region: string): number | undefined {
    return this.entries.get(region)?.lastOkAt;
  }

  isReachable(region: string): boolean {
    return this.entry(region).reachable;
  }

  /** Reachable regions among `regions`, lowest latency first (never-measured ones last, in order). */
  ranked(regions: readonly string[]): string[] {
    return regions
      .map((r, i) => ({ r, i, e: this.entry(r) }))
      .filter((x) => x.e.reachable)
      .sort((a, b) => (a.e.ewma ?? Infinity) - (b.e.ewma ?? Infinity) || a.i - b.i)
      .map((x) => x.r);
  }

  recordWrite(): void {
    this.writes.push(this.clock.now());
    if (this.writes.length > 10_000) this.writes = this.writes.slice(-5_000);
  }

  /** Writes recorded in this process during the last `windowMs`. */
  writesSince(windowMs: number): number {
    const from = this.clock.now() - windowMs;
    this.writes = this.writes.filter((t) => t >= from);
    return this.writes.length;
  }

  snapshot(region: string): ReplicaHealth {
    const e = this.entry(region);
    const failures = e.outcomes.filter((ok) => !ok).length;
    return {
      region,
      reachable: e.reachable,
      ewmaMs: e.ewma,
      p50Ms: percentile(e.latencies, 50),
      p95Ms: percentile(e.latencies, 95),
      errorRate: e.outcomes.length === 0 ? 0 : failures / e.outcomes.length,
      samples: e.outcomes.length,
      consecutiveFailures: e.consecutiveFailures,
      consecutiveSuccesses: e.consecutiveSuccesses,
      lastOkAt: e.lastOkAt,
      lastErrorAt: e.lastErrorAt,
      lastError: e.lastError,
      updatedAt: e.updatedAt,
    };
  }

  snapshots(regions?: readonly string[]): ReplicaHealth[] {
    return (regions ?? [...this.entries.keys()]).map((r) => this.snapshot(r));
  }

  /**
   * Take the shared picture (written by the prober, possibly in another process) for regions this
   * process has not observed more recently itself.
   */
  adopt(shared: readonly ReplicaHealth[]): void {
    for (const s of shared) {
      const e = this.entry(s.region);
      if (s.updatedAt <= e.updatedAt) continue;
      e.reachable = s.reachable;
      if (s.ewmaMs !== undefined) e.ewma = s.ewmaMs;
      e.consecutiveFailures = s.consecutiveFailures;
      e.consecutiveSuccesses = s.consecutiveSuccesses;
      e.lastOkAt = s.lastOkAt;
      e.lastErrorAt = s.lastErrorAt;
      e.lastError = s.lastError;
      e.updatedAt = s.updatedAt;
    }
  }
}
