/**
 * Login throttling that holds across containers: failed sign-ins are counted in the catalog per
 * account (`account:<email>`) and per client address (`address:<ip>`). Past a free allowance,
 * each further failure locks the key for a delay that doubles (1 s, 2 s, 4 s … up to 15 min);
 * while a key is locked every attempt, right password or not, answers 429 with Retry-After.
 * Failures older than the window are forgotten; a successful sign-in clears its account's count.
 */
import { eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../catalog/db.js';
import { loginThrottle } from '../catalog/schema.js';
import { HttpError } from '../errors.js';

export interface ThrottlePolicy {
  /** Failures per account before delays start. */
  accountFree: number;
  /** Failures per client address before delays start (many users may share one address). */
  addressFree: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Failures older than this are forgotten. */
  windowMs: number;
}

export const DEFAULT_THROTTLE: ThrottlePolicy = { accountFree: 5, addressFree: 20, baseDelayMs: 1000, maxDelayMs: 15 * 60_000, windowMs: 15 * 60_000 };

export class TooManyAttempts extends HttpError {
  constructor(retryAfterSeconds: number) {
    super(429, 'too_many_attempts', `Too many failed sign-ins: wait ${retryAfterSeconds} s before trying again.`, { 'Retry-After': String(retryAfterSeconds) }, { retry_after: retryAfterSeconds });
  }
}

export class LoginThrottle {
  private readonly policy: ThrottlePolicy;
  constructor(
    private readonly db: Db,
    policy: Partial<ThrottlePolicy> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.policy = { ...DEFAULT_THROTTLE, ...policy };
  }

  private keys(email: string, address: string | undefined): string[] {
    return [`account:${email}`, ...(address ? [`address:${address}`] : [])];
  }

  /** Throws TooManyAttempts while the account or the address is locked. */
  async check(email: string, address: string | undefined): Promise<void> {
    const rows = await this.db
      .select({ lockedUntil: loginThrottle.lockedUntil })
      .from(loginThrottle)
      .where(inArray(loginThrottle.key, this.keys(email, address)));
    const now = this.now();
    const until = Math.max(0, ...rows.map((r) => r.lockedUntil?.getTime() ?? 0));
    if (until > now) throw new TooManyAttempts(Math.max(1, Math.ceil((until - now) / 1000)));
  }

  /** Count one failure for the account and the address; lock a key that is past its allowance. */
  async failed(email: string, address: string | undefined): Promise<void> {
    const now = new Date(this.now());
    const stale = new Date(now.getTime() - this.policy.windowMs);
    for (const key of this.keys(email, address)) {
      const [row] = await this.db
        .insert(loginThrottle)
        .values({ key, failures: 1, lastFailureAt: now })
        .onConflictDoUpdate({
          target: loginThrottle.key,
          set: {
            failures: sql`CASE WHEN ${loginThrottle.lastFailureAt} < ${stale.toISOString()}::timestamptz THEN 1 ELSE ${loginThrottle.failures} + 1 END`,
            lastFailureAt: now,
          },
        })
        .returning({ failures: loginThrottle.failures });
      const free = key.startsWith('account:') ? this.policy.accountFree : this.policy.addressFree;
      const over = (row?.failures ?? 0) - free;
      if (over > 0) {
        const delay = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** Math.min(over - 1, 30));
        await this.db.update(loginThrottle).set({ lockedUntil: new Date(now.getTime() + delay) }).where(eq(loginThrottle.key, key));
      }
    }
  }

  /** A successful sign-in forgets the account's failures (the address keeps its count). */
  async succeeded(email: string): Promise<void> {
    await this.db.delete(loginThrottle).where(eq(loginThrottle.key, `account:${email}`));
  }
}
