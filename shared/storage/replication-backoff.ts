/**
 * How the replicator waits after failures: each backlog row backs off exponentially with jitter
 * (rowBackoffMs), and a region that keeps failing is left alone as a whole for a cool-down that
 * doubles while it keeps failing (RegionBackoff, one per worker, shared by its runs).
 */

export interface BackoffPolicy {
  /** Delay after the first failure of a row (ms). */
  baseMs: number;
  /** Upper bound of a row's delay (ms). */
  maxMs: number;
  /** Consecutive failures after which a whole region is left alone. */
  regionFailureThreshold: number;
  /** First cool-down of a failing region (ms); doubles while it keeps failing. */
  regionCooldownMs: number;
  regionCooldownMaxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = {
  baseMs: 1000,
  maxMs: 5 * 60_000,
  regionFailureThreshold: 3,
  regionCooldownMs: 5000,
  regionCooldownMaxMs: 2 * 60_000,
};

/** Delay before the next attempt of a row that has failed `attempts` times: exponential, with jitter. */
export function rowBackoffMs(attempts: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
  // "Equal jitter": at least half the delay, so retries never bunch up at zero.
  return Math.round(exp / 2 + (exp / 2) * random());
}

/**
 * Per-region failure memory shared by successive runs of one worker: after
 * `regionFailureThreshold` consecutive failures a region is skipped until its cool-down ends.
 */
export class RegionBackoff {
  private readonly state = new Map<string, { failures: number; openUntil: number; openedAt: number; trips: number }>();

  constructor(private readonly policy: BackoffPolicy = DEFAULT_BACKOFF) {}

  isOpen(region: string, now: number): boolean {
    const s = this.state.get(region);
    return s !== undefined && s.openUntil > now;
  }

  /** Regions currently skipped, with the time until which they are. */
  open(now: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const [r, s] of this.state) if (s.openUntil > now) out.set(r, s.openUntil);
    return out;
  }

  openUntil(region: string): number {
    return this.state.get(region)?.openUntil ?? 0;
  }

  success(region: string): void {
    this.state.delete(region);
  }

  /**
   * The region answered a call at `okAt` (a probe, a write, another worker): if that was after its
   * cool-down began, the cool-down ends now. Returns true when it did.
   */
  answeredAt(region: string, okAt: number, now: number): boolean {
    const s = this.state.get(region);
    if (!s || s.openUntil <= now || okAt <= s.openedAt) return false;
    this.state.delete(region);
    return true;
  }

  /** Returns true when this failure opened (or re-opened) the region's cool-down. */
  failure(region: string, now: number): boolean {
    const s = this.state.get(region) ?? { failures: 0, openUntil: 0, openedAt: 0, trips: 0 };
    s.failures += 1;
    this.state.set(region, s);
    if (s.failures >= this.policy.regionFailureThreshold && s.openUntil <= now) {
      const cool = Math.min(this.policy.regionCooldownMaxMs, this.policy.regionCooldownMs * 2 ** Math.min(s.trips, 20));
      s.trips += 1;
      s.openedAt = now;
      s.openUntil = now + cool;
      s.failures = 0;
      return true;
    }
    return false;
  }
}
