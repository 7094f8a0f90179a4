/**
 * How many replica acknowledgements a chunk write needs, by mode (DESIGN §2), with N replicas and
 * majority Q = floor(N/2)+1:
 *   C: Q acks, or the write fails (unless the caller's `until` ends the wait: the controller has
 *      since moved the object to available, and the write is acknowledged under it).
 *   C on the controller's deadline path (shared/controller/write-path.ts): Q acks up to its wait,
 *      then the acks it has (at least one); the wait ends early when, by the replicas' latency
 *      estimates, no majority can arrive within it.
 *   H: Q acks up to a deadline (or until Q has become impossible), then one ack.
 *   A: one ack.
 * Pure: the caller supplies the write attempts; stragglers keep running after the decision.
 */
import type { Mode } from '../config.js';

export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

export interface Attempt {
  region: string;
  /** Resolves on an ack, rejects on failure. */
  done: Promise<void>;
}

export interface AckOutcome {
  satisfied: boolean;
  /** Regions that acked by the time of the decision. */
  acked: string[];
  /** region -> error message, for the attempts that failed by the time of the decision. */
  failed: Record<string, string>;
  /** Regions whose attempt was still running at the decision. */
  inFlight: string[];
  /** True when H, or C on the deadline path, accepted fewer than Q acks. */
  degraded: boolean;
}

/** C only: the controller's deadline path. */
export interface MajorityWait {
  /** How long to wait for Q acks before accepting the ones there are (ms). */
  waitMs: number;
  /** Write latency estimates by region (ms); a region without one is assumed able to arrive in time. */
  estimatesMs: Readonly<Record<string, number>>;
}

export interface AckPolicy {
  mode: Mode;
  /** Replicas in the set (N). */
  replicas: number;
  /** Replicas that already hold the chunk (count as acks). */
  alreadyPresent: number;
  /** H only: how long to wait for Q before accepting one. */
  hybridDeadlineMs: number;
  /** C only: wait for Q at most this long, then accept what there is (the deadline path). */
  majorityWait?: MajorityWait;
  /** Stop waiting when this resolves: decide with the acks there are (a write the controller has since released to available). */
  until?: Promise<unknown>;
}

/**
 * Whether the acks still missing for a majority cannot arrive within the wait, by the estimates of
 * the replicas still writing: the (Q − have)-th fastest of them is expected after the wait ends.
 */
function majorityOutOfReach(inFlight: readonly string[], need: number, w: MajorityWait): boolean {
  if (need <= 0) return false;
  if (inFlight.length < need) return true;
  const expected = inFlight.map((r) => w.estimatesMs[r] ?? 0).sort((a, b) => a - b);
  return (expected[need - 1] as number) > w.waitMs;
}

export function awaitAcks(attempts: readonly Attempt[], policy: AckPolicy): Promise<AckOutcome> {
  const q = majority(policy.replicas);
  const acked: string[] = [];
  const failed: Record<string, string> = {};
  let deadlinePassed = false;
  return new Promise((resolve) => {
    let decided = false;
    let timer: NodeJS.Timeout | undefined;
    const settledCount = () => acked.length + Object.keys(failed).length;
    const decide = (satisfied: boolean, degraded: boolean) => {
      if (decided) return;
      decided = true;
      if (timer) clearTimeout(timer);
      const inFlight = attempts.map((a) => a.region).filter((r) => !acked.includes(r) && !(r in failed));
      resolve({ satisfied, acked: [...acked], failed: { ...failed }, inFlight, degraded });
    };
    const evaluate = () => {
      const have = acked.length + policy.alreadyPresent;
      const remaining = attempts.length - settledCount();
      const qPossible = have + remaining >= q;
      if (have >= q) return decide(true, false);
      switch (policy.mode) {
        case 'C': {
          const w = policy.majorityWait;
          if (w && have >= 1) {
            const inFlight = attempts.map((a) => a.region).filter((r) => !acked.includes(r) && !(r in failed));
            if (deadlinePassed || !qPossible || majorityOutOfReach(inFlight, q - have, w)) return decide(true, true);
            return;
          }
          if (w ? remaining === 0 : !qPossible) decide(false, false);
          return;
        }
        case 'A':
          if (have >= 1) return decide(true, have < q);
          if (remaining === 0) decide(false, false);
          return;
        case 'H':
          if ((deadlinePassed || !qPossible) && have >= 1) return decide(true, true);
          if (remaining === 0) decide(false, false);
          return;
      }
    };
    const waitMs = policy.mode === 'H' ? policy.hybridDeadlineMs : policy.mode === 'C' ? policy.majorityWait?.waitMs : undefined;
    if (waitMs !== undefined) {
      timer = setTimeout(() => {
        deadlinePassed = true;
        evaluate();
      }, Math.max(0, waitMs));
      timer.unref?.();
    }
    policy.until?.then(
      () => {
        if (acked.length + policy.alreadyPresent >= q) return decide(true, false);
        decide(false, false);
      },
      () => undefined,
    );
    for (const a of attempts) {
      a.done.then(
        () => {
          acked.push(a.region);
          evaluate();
        },
        (err: unknown) => {
          failed[a.region] = err instanceof Error ? err.message : String(err);
          evaluate();
        },
      );
    }
    evaluate();
  });
}
