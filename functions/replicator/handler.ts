/**
 * The replicator function: an event adapter. EventBridge Scheduler invokes it with {task} and
 * writes that left a backlog invoke it asynchronously; it runs the container's replication runner
 * (shared/storage/replication-runner.ts) and records the outcome as metrics.
 */
import { z } from 'zod';
import { loadConfig } from '#shared/config.js';
import { logger, metrics, MetricUnit } from '#shared/observability.js';
import { buildServices } from '#shared/runtime.js';
import { runnerFor, type ReplicatorRunner } from '#shared/storage/replication-runner.js';

const eventSchema = z
  .object({ task: z.enum(['drain', 'sweep', 'gc']).optional() })
  .passthrough()
  .optional()
  .transform((e) => e?.task ?? 'drain');

export type ReplicatorTask = 'drain' | 'sweep' | 'gc';

/** The Lambda handler for a given runner (tests pass their own). */
export function createHandler(getRunner: () => Promise<ReplicatorRunner>) {
  return async (event: unknown, context?: { getRemainingTimeInMillis?: () => number }): Promise<{ task: ReplicatorTask; stats: unknown }> => {
    const parsed = eventSchema.safeParse(event ?? undefined);
    if (!parsed.success) throw new Error(`replicator event must be {task: 'drain' | 'sweep' | 'gc'}: ${parsed.error.message}`);
    const task = parsed.data;
    const runner = await getRunner();
    try {
      // Leave time to record the outcome before the function's own timeout: no copy, sweep page or
      // GC chunk starts after the budget, so a run never stops half-done.
      const remaining = context?.getRemainingTimeInMillis?.();
      const budget = remaining === undefined ? undefined : Math.max(1000, remaining - 15_000);
      if (task === 'drain') {
        const stats = await runner.drain(budget);
        metrics.addMetric('ReplicationCopied', MetricUnit.Count, stats.copied);
        metrics.addMetric('ReplicationFailed', MetricUnit.Count, stats.failed);
        metrics.addMetric('ReplicationBacklog', MetricUnit.Count, stats.backlog.pending + stats.backlog.missing);
        metrics.addMetric('ReplicationLagMs', MetricUnit.Milliseconds, stats.backlog.oldestPendingAgeMs);
        logger.info('replication drain', { ...stats });
        return { task, stats };
      }
      if (task === 'sweep') {
        const stats = await runner.sweep(budget);
        metrics.addMetric('AntiEntropyChecked', MetricUnit.Count, stats.checked);
        metrics.addMetric('AntiEntropyRepairsQueued', MetricUnit.Count, stats.markedMissing);
        logger.info('anti-entropy sweep', { ...stats });
        return { task, stats };
      }
      const stats = await runner.gc(budget);
      metrics.addMetric('GcChunksDeleted', MetricUnit.Count, stats.chunksDeleted);
      logger.info('garbage collection', { ...stats });
      return { task, stats };
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

let cold: Promise<ReplicatorRunner> | undefined;

/** Services are built once per container, on the first invocation. */
export const handler = createHandler(() => {
  cold ??= buildServices(loadConfig())
    .then((services) => runnerFor(services))
    .catch((err: unknown) => {
      cold = undefined;
      throw err;
    });
  return cold;
});
