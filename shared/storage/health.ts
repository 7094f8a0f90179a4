/**
 * The default in-memory HealthSink: what this process has seen of each replica. An exponentially
 * weighted moving average of latency and a count of consecutive failures per region. A region is
 * judged unreachable after `failureThreshold` consecutive failures, and is given another chance
 * (put back at the end of the ranking) once `retryAfterMs` has passed since its last failure.
 */
import type { HealthSink } from './ports.js';

export interface RegionHealth {
  region: string;
  latencyMs: number | undefined;
  consecutiveFailures: number;
  lastError?: string;
  lastFailureAt?: number;
  reachable: boolean;
}

export interface InMemoryHealthOptions {
  /** Weight of a new sample in the latency average (0..1). */
  alpha?: number;
  failureThreshold?: number;
  retryAfterMs?: number;
  now?: () => number;
}

export class InMemoryHealth implements HealthSink {
  private readonly alpha: number;
  private readonly failureThreshold: number;
  private readonly retryAfterMs: number;
  private readonly now: () => number;
  private readonly regions = new Map<string, { latencyMs?: number; failures: number; lastError?: string; lastFailureAt?: number }>();
  private writtenBytes = 0;

  constructor(o: InMemoryHealthOptions = {}) {
    this.alpha = o.alpha ?? 0.2;
    this.failureThreshold = o.failureThreshold ?? 3;
    this.retryAfterMs = o.retryAfterMs ?? 5000;
    this.now = o.now ?? Date.now;
  }

  private entry(region: string) {
    let e = this.regions.get(region);
    if (!e) {
      e = { failures: 0 };
      this.regions.set(region, e);
    }
    return e;
  }

  observe(region: string, outcome: { ok: boolean; latencyMs: number; error?: string }): void {
    const e = this.entry(region);
    if (outcome.ok) {
      e.failures = 0;
      e.latencyMs = e.latencyMs === undefined ? outcome.latencyMs : e.latencyMs + this.alpha * (outcome.latencyMs - e.latencyMs);
    } else {
      e.failures += 1;
      e.lastError = outcome.error;
      e.lastFailureAt = this.now();
    }
  }

  /** Reachable regions, lowest latency first; unknown regions count as reachable with no latency yet. */
  ranked(regions: readonly string[]): string[] {
    const healthy: { region: string; score: number; order: number }[] = [];
    regions.forEach((region, order) => {
      const e = this.regions.get(region);
      if (!e) return healthy.push({ region, score: 0, order });
      if (e.failures >= this.failureThreshold) {
        const since = this.now() - (e.lastFailureAt ?? 0);
        if (since < this.retryAfterMs) return;
        return healthy.push({ region, score: Number.MAX_SAFE_INTEGER, order });
      }
      // A recent failure pushes a region back without excluding it.
      healthy.push({ region, score: (e.latencyMs ?? 0) * (1 + e.failures), order });
    });
    return healthy.sort((a, b) => a.score - b.score || a.order - b.order).map((h) => h.region);
  }

  recordWrite(bytes: number): void {
    this.writtenBytes += bytes;
  }

  /** Latency average of a region, if any sample was seen. */
  latency(region: string): number | undefined {
    return this.regions.get(region)?.latencyMs;
  }

  snapshot(regions: readonly string[]): RegionHealth[] {
    const reachable = new Set(this.ranked(regions));
    return regions.map((region) => {
      const e = this.regions.get(region);
      return {
        region,
        latencyMs: e?.latencyMs,
        consecutiveFailures: e?.failures ?? 0,
        lastError: e?.lastError,
        lastFailureAt: e?.lastFailureAt,
        reachable: reachable.has(region),
      };
    });
  }

  get bytesWritten(): number {
    return this.writtenBytes;
  }
}
