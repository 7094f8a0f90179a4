/**
 * A request's time budget, with a commit point. The API binding (functions/_lib/api.ts) runs each
 * request under a deadline taken from the invocation (Lambda's remaining time, the local adapter's
 * equivalent) minus a margin for the answer. When the budget runs out before the request reached
 * its commit point, the request is answered at once with 504 `request_timeout` and can no longer
 * commit: the work still running stops at its commit point (`commitPoint` throws), so what it
 * wrote before (chunks without a version) stays unreferenced and is collected by GC. When the
 * budget runs out while a commit is under way, the commit finishes and its outcome is the answer.
 * Either way a write either happened or it did not, and the answer says which.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { HttpError } from './errors.js';

/** The answer of a request that ran out of time before committing anything. */
export class RequestTimeout extends HttpError {
  constructor() {
    super(504, 'request_timeout', 'The request ran out of time before anything was committed; retry it.', { 'Retry-After': '1' });
  }
}

export class Deadline {
  /** Set once the work entered its commit point: from then on its outcome is the answer. */
  private committed = false;
  private expiredFlag = false;
  private readonly hooks: (() => Promise<void>)[] = [];

  constructor(readonly at: number) {}

  get expired(): boolean {
    return this.expiredFlag;
  }

  /** Milliseconds left (0 when past). */
  remainingMs(): number {
    return Math.max(0, this.at - Date.now());
  }

  /** Throw RequestTimeout if the request was already answered with a timeout. */
  check(): void {
    if (this.expiredFlag) throw new RequestTimeout();
  }

  /** Run `fn` when the deadline expires (before the 504 is sent), e.g. to release a claim. */
  onExpire(fn: () => Promise<void>): void {
    this.hooks.push(fn);
  }

  /** @internal */ enter(): void {
    this.check();
    this.committed = true;
  }

  /** @internal Expire unless the work reached its commit point; true when expired. */
  tryExpire(): boolean {
    if (this.committed) return false;
    this.expiredFlag = true;
    return true;
  }

  /** @internal */ async runHooks(): Promise<void> {
    await Promise.allSettled(this.hooks.map((h) => h()));
  }
}

const current = new AsyncLocalStorage<Deadline>();

/** The deadline of the request being served, if any. */
export function currentDeadline(): Deadline | undefined {
  return current.getStore();
}

/**
 * The commit point of a write: refused (RequestTimeout) once the request has timed out; once `fn`
 * has started the request is no longer answered with a timeout, so its outcome is the answer.
 */
export async function commitPoint<T>(fn: () => Promise<T>): Promise<T> {
  current.getStore()?.enter();
  return fn();
}

/**
 * Run `work` under a deadline `budgetMs` from now. Resolves with the work's outcome, or with
 * `timedOut()` when the budget runs out before the work reached its commit point (the work is
 * then left to fail at its commit point; its rejection is swallowed).
 */
export async function runWithDeadline<T>(budgetMs: number, work: () => Promise<T>, timedOut: () => T | Promise<T>): Promise<T> {
  const d = new Deadline(Date.now() + budgetMs);
  const running = current.run(d, work);
  let timer: NodeJS.Timeout | undefined = undefined;
  const expired = new Promise<'expired'>((resolve) => {
    // Past its commit point the work's own outcome is the answer, however late.
    timer = setTimeout(() => {
      if (d.tryExpire()) resolve('expired');
    }, Math.max(0, budgetMs));
  });
  try {
    const first = await Promise.race([running, expired]);
    if (first !== 'expired') return first;
    running.catch(() => undefined);
    await d.runHooks();
    return await timedOut();
  } finally {
    if (timer) clearTimeout(timer);
  }
}
