/**
 * Budgets for tests that wait on real processes and sockets, scaled to how busy the machine is,
 * so a suite that passes on an idle machine also passes on a loaded 2-core one without fixed
 * sleeps or blanket long timeouts. The factor is the 1-minute load average per core (at least 1),
 * capped so a stuck test still fails in bounded time.
 *
 *   it('spawns the server', async () => { ... }, scaled(60_000));
 *   startTestStack({ ECHOFS_REPLICA_TIMEOUT_MS: String(scaled(4000)) });
 */
import { availableParallelism, loadavg } from 'node:os';

export function loadFactor(cap = 4): number {
  const perCore = (loadavg()[0] ?? 0) / Math.max(1, availableParallelism());
  return Math.min(cap, Math.max(1, perCore));
}

/** `ms` on an idle machine, up to `cap` times that on a loaded one. */
export function scaled(ms: number, cap = 4): number {
  return Math.round(ms * loadFactor(cap));
}
