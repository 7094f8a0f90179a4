/**
 * The prober function. EventBridge Scheduler invokes it once a minute; inside one invocation it
 * ticks every ECHOFS_PROBE_INTERVAL_MS (sub-minute probes), stopping before the next invocation
 * and before its own remaining time runs out. An event adapter: the prober and its wiring are in
 * shared/controller (createProber); the local runtime drives the same prober's `tick()` from its timer.
 */
import type { Context } from 'aws-lambda';
import { logger } from '#shared/observability.js';
import { createProber } from '#shared/controller/factory.js';
import type { Prober } from '#shared/controller/prober.js';
import { coldStarted } from '#functions/_lib/cold-start.js';

/** How long one invocation keeps probing (the schedule's period). */
export const INVOCATION_BUDGET_MS = 60_000;

// The one cold-start wrapper (functions/_lib): services built once per container; a failed start
// is forgotten, so the next invocation tries again.
const started = coldStarted('prober', (services): { prober: Prober; intervalMs: number } => {
  const controller = services.controller;
  if (!controller) throw new Error('the prober needs a controller table (ECHOFS_TABLE, DYNAMODB_ENDPOINT locally)');
  return { prober: createProber({ ...services, controller }), intervalMs: services.config.probeIntervalMs };
});

export async function handler(_event: unknown, context: Context): Promise<{ ticks: number }> {
  let p: { prober: Prober; intervalMs: number };
  try {
    p = await started.ready();
  } catch (err) {
    logger.error('prober failed to start', { error: err as Error });
    throw err;
  }
  const ticks = await p.prober.runFor({
    budgetMs: INVOCATION_BUDGET_MS,
    intervalMs: p.intervalMs,
    remainingMs: () => context.getRemainingTimeInMillis(),
  });
  logger.info('probe run finished', { ticks });
  return { ticks };
}
