/**
 * The prober function. EventBridge Scheduler invokes it once a minute; inside one invocation it
 * ticks every ECHOFS_PROBE_INTERVAL_MS (sub-minute probes), stopping before the next invocation
 * and before its own remaining time runs out. The local runtime calls `createProber(services)`
 * and drives `tick()` from its own timer instead.
 */
import type { Context } from 'aws-lambda';
import { loadConfig } from '#shared/config.js';
import { logger } from '#shared/observability.js';
import { buildServices, type Services } from '#shared/runtime.js';
import { createReplicaStores } from '#shared/storage/s3-store.js';
import type { ObjectStore } from '#shared/storage/ports.js';
import { catalogBacklog } from '#shared/controller/factory.js';
import { catalogWriteRate, Prober } from '#shared/controller/prober.js';
import type { ControllerService } from '#shared/controller/service.js';
import { expediteRegions } from '#shared/storage/replicator.js';

/** How long one invocation keeps probing (the schedule's period). */
export const INVOCATION_BUDGET_MS = 60_000;

export type ProberServices = Pick<Services, 'config' | 'catalog'> & Partial<Pick<Services, 'replication'>> & { controller: ControllerService };

/** A prober over the services' controller; the replica stores default to one per configured region. */
export function createProber(services: ProberServices, stores?: readonly ObjectStore[], now?: () => number): Prober {
  const { config, catalog, controller } = services;
  return new Prober({
    stores: stores ?? [...createReplicaStores(config).values()],
    store: controller.store,
    health: controller.health,
    controller: config.controller,
    service: controller,
    backlog: catalogBacklog(catalog.db),
    writeRate: catalogWriteRate(catalog.db, 60_000, now),
    now,
    // A region that comes back gets its backlog retried at once: convergence after a heal does not
    // wait out the per-row backoff the outage caused.
    onRecovered: async (regions) => {
      const trigger = services.replication;
      if (trigger?.recovered) return trigger.recovered(regions);
      await expediteRegions(catalog.db, regions);
      trigger?.kick();
    },
  });
}

let prober: Promise<{ prober: Prober; intervalMs: number }> | undefined;

async function start(): Promise<{ prober: Prober; intervalMs: number }> {
  const config = loadConfig(process.env);
  const services = await buildServices(config);
  const controller = services.controller;
  if (!controller) throw new Error('the prober needs a controller table (ECHOFS_TABLE, DYNAMODB_ENDPOINT locally)');
  return { prober: createProber({ ...services, controller }), intervalMs: config.probeIntervalMs };
}

export async function handler(_event: unknown, context: Context): Promise<{ ticks: number }> {
  let p: { prober: Prober; intervalMs: number };
  try {
    prober ??= start();
    p = await prober;
  } catch (err) {
    prober = undefined; // retry on the next invocation
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
