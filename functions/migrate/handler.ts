/**
 * Catalog migrations as a CloudFormation custom resource (CDK Provider framework "onEvent"):
 * Create and Update apply pending migrations through the Data API, connected as the cluster's
 * owner, then create or update the runtime role (data rights only, its credentials in their own
 * secret, ECHOFS_DB_APP_SECRET_ARN) that every other function uses. Delete leaves the data alone.
 * This is the only function that holds the owner's credentials and the only one that runs DDL.
 */
import { loadConfig } from '#shared/config.js';
import { APP_SECRET_VARIABLE, ensureAppRole, validateAppRole, type AppRoleCredentials } from '#shared/catalog/app-role.js';
import { catalogFromConfig, type Catalog } from '#shared/catalog/db.js';
import { migrate } from '#shared/catalog/migrations.js';
import { logger } from '#shared/observability.js';

export { APP_SECRET_VARIABLE };

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
  /** Credentials of the runtime role to create or update after the migrations (none locally). */
  appRole?: () => Promise<AppRoleCredentials>;
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
          const data: Record<string, string> = { Applied: applied.join(',') };
          if (deps.appRole) {
            const role = await deps.appRole();
            const { created } = await ensureAppRole(catalog.db, role);
            logger.info('runtime role granted data rights', { role: role.username, created });
            data.AppRole = role.username;
          }
          return { PhysicalResourceId: PHYSICAL_RESOURCE_ID, Data: data };
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

/** Reads the runtime role's credentials from Secrets Manager (a JSON secret: username, password). */
export async function readAppRoleSecret(arn: string, read: (arn: string) => Promise<string> = readSecretString): Promise<AppRoleCredentials> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await read(arn));
  } catch (err) {
    if (err instanceof SyntaxError) throw new Error(`The secret at ${APP_SECRET_VARIABLE} is not JSON with username and password`);
    throw err;
  }
  return validateAppRole((parsed ?? {}) as { username?: unknown; password?: unknown });
}

async function readSecretString(arn: string): Promise<string> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (!out.SecretString) throw new Error(`The secret at ${APP_SECRET_VARIABLE} has no string value`);
    return out.SecretString;
  } finally {
    client.destroy();
  }
}

const appSecretArn = process.env[APP_SECRET_VARIABLE]?.trim();

export const handler = createMigrateHandler({
  openCatalog: () => catalogFromConfig(loadConfig(process.env), { migrate: false }),
  ...(appSecretArn ? { appRole: () => readAppRoleSecret(appSecretArn) } : {}),
});
