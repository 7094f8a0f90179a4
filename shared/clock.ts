/**
 * The one clock port: epoch milliseconds now. The data path, the replicator, anti-entropy and GC
 * take a `Clock`; tests pass a fake one (an object with `now()`), production the system clock.
 */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** The clock's time as a Date (for catalog timestamps). */
export function dateOf(clock: Clock): Date {
  return new Date(clock.now());
}
