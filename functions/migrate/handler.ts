/**
 * Catalog migrations as a CloudFormation custom resource (CDK Provider framework "onEvent"):
 * Create and Update apply pending migrations through the Data API; Delete leaves the data alone.
 */
import { loadConfig } from '#shared/config.js';
import { catalogFromConfig, type Catalog } from '#shared/catalog/db.js';
import { migrate } from '#shared/catalog/migrations.js';
import { logger } from '#shared/observability.js';

export const PHYSICAL_RESOURCE_ID = 'echofs-catalog-migrations';

export interface CustomResourceEvent {
  RequestType: 'Create' | 'Update' | 'Delete';
  PhysicalResourceId?: string;
  ResourceProperties?: Record<string, unknown>;
}

export interface CustomResourceResponse {
  PhysicalResourceId: string;
  Data?: Record<string, string>;
}

export interface MigrateHandlerDeps {
  /** Opens the catalog without migrating (migrate() is called explicitly). */
  openCatalog: () => Promise<Catalog>;
  attempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

export function createMigrateHandler(deps: MigrateHandlerDeps) {
  const attempts = deps.attempts ?? 6;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  return async (event: CustomResourceEvent): Promise<CustomResourceResponse> => {
    if (event.RequestType === 'Delete') return { PhysicalResourceId: event.PhysicalResourceId ?? PHYSICAL_RESOURCE_ID };
    for (let attempt = 1; ; attempt++) {
      try {
        const catalog = await deps.openCatalog();
        try {
          const { applied } = await migrate(catalog.db);
          logger.info('catalog migrations applied', { requestType: event.RequestType, applied });
          return { PhysicalResourceId: PHYSICAL_RESOURCE_ID, Data: { Applied: applied.join(',') } };
        } finally {
          await catalog.close();
        }
      } catch (err) {
        // Aurora Serverless may be resuming from a pause: the Data API refuses until it is up.
        if (attempt >= attempts || !isTransient(err)) throw err;
        logger.warn('migration attempt failed; retrying', { attempt, error: err as Error });
        await sleep(Math.min(30_000, 2_000 * 2 ** (attempt - 1)));
      }
    }
  };
}

const TRANSIENT_NAMES = new Set(['DatabaseResumingException', 'ServiceUnavailableError', 'InternalServerErrorException', 'StatementTimeoutException']);

/** Errors worth waiting out (a resuming cluster, a dropped connection), as opposed to a bad migration. */
export function isTransient(err: unknown): boolean {
  const e = err as { name?: unknown; message?: unknown; code?: unknown; cause?: unknown } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.name === 'string' && TRANSIENT_NAMES.has(e.name)) return true;
  const text = `${String(e.code ?? '')} ${String(e.message ?? '')}`;
  if (/resuming|communications link failure|ECONNREFUSED|ECONNRESET|ETIMEDOUT/i.test(text)) return true;
  return e.cause !== undefined && e.cause !== err && isTransient(e.cause);
}

export const handler = createMigrateHandler({
  openCatalog: () => catalogFromConfig(loadConfig(process.env), { migrate: false }),
});
