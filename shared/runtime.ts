/**
 * The service container: everything a function needs, built once from config. Lambda handlers
 * build it at cold start; the local runtime builds one and hands it to every handler.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from './config.js';
import { catalogFromConfig, type Catalog } from './catalog/db.js';
import { adminTokenFromConfig } from './auth/admin-token.js';
import { resolveJwtSecret } from './auth/secret.js';
import { TokenService } from './auth/tokens.js';
import { AuthService } from './auth/service.js';
import { LoginThrottle } from './auth/throttle.js';
import type { Authenticator } from './http.js';
import type { StorageEngine } from './storage/engine.js';
import { createStorageEngine } from './storage/factory.js';
import type { ControllerService } from './controller/service.js';
import type { HealthTracker } from './controller/health.js';
import { createController } from './controller/factory.js';
import { createLambdaTrigger, type ReplicationTrigger } from './storage/replicator.js';

export interface Services {
  config: Config;
  catalog: Catalog;
  auth: AuthService;
  authenticator: Authenticator;
  /** The data path: chunked, replicated, verified files (shared/storage/engine.ts). */
  storage: StorageEngine;
  /**
   * The consistency controller (mode per object, health picture, controller API). Present when a
   * controller table is reachable: in the cloud, or locally with DYNAMODB_ENDPOINT (dynalite).
   * Without it the storage engine uses the fixed mode (ECHOFS_MODE).
   */
  controller?: ControllerService;
  health?: HealthTracker;
  /**
   * How a write that left a backlog asks for a replication drain: an asynchronous invoke of the
   * replicator function in the cloud; locally the in-process runner (set by runnerFor in shared/storage/replication-runner.ts).
   */
  replication?: ReplicationTrigger;
}

/**
 * The JWT signing secret. In the cloud only the functions that authenticate requests are given
 * one (JWT_SECRET_ARN); the scheduled ones (prober, replicator) get a random key of their own, so
 * they need no access to the secret and any token shown to them fails verification.
 */
async function jwtSecretFor(config: Config): Promise<string | Uint8Array> {
  if (config.stage === 'cloud' && !config.jwtSecret && !config.jwtSecretArn) return randomBytes(48);
  return resolveJwtSecret(config);
}

/** Build the services for this config; anything in `overrides` is used as given (tests, fakes). */
export async function buildServices(config: Config, overrides: Partial<Services> = {}): Promise<Services> {
  const catalog = overrides.catalog ?? (await catalogFromConfig(config));
  try {
    // Opening connects lazily and runs no migration: one trivial query makes an unreachable (or
    // resuming) catalog fail the cold start, which answers 503 and is retried on the next request,
    // instead of a container that starts and then fails every request.
    if (!overrides.catalog) await catalog.ping();
    const auth =
      overrides.auth ??
      new AuthService({
        db: catalog.db,
        tokens: new TokenService(await jwtSecretFor(config)),
        bcryptCost: config.bcryptCost,
        adminEmails: config.adminEmails,
        adminToken: adminTokenFromConfig(config),
        throttle: new LoginThrottle(catalog.db),
        // A token holder's row is leased for as long as the controller snapshot (same rule).
        holderCacheMs: config.controller.modeCacheMs,
      });
    const controller =
      overrides.controller ??
      (config.stage === 'cloud' || config.dynamoEndpoint ? (await createController(config, { db: catalog.db, health: overrides.health })).service : undefined);
    const services: Services = {
      config,
      catalog,
      auth,
      authenticator: overrides.authenticator ?? auth,
      storage:
        overrides.storage ??
        createStorageEngine(config, catalog.db, {
          ...(controller ? { modeSource: controller, health: controller } : {}),
          onBacklog: () => services.replication?.kick(),
        }),
      controller,
      health: controller?.health ?? overrides.health,
      replication:
        overrides.replication ??
        (config.stage === 'cloud' && config.replicatorFunction ? createLambdaTrigger(config.replicatorFunction) : undefined),
    };
    return services;
  } catch (err) {
    if (!overrides.catalog) await catalog.close().catch(() => undefined);
    throw err;
  }
}

/** Release what the services hold (the catalog's connections or embedded database). */
export async function closeServices(services: Services): Promise<void> {
  await services.storage?.drain();
  await services.catalog.close();
}

/**
 * A Lambda cold-start memo: builds the services from the environment once, on the first request,
 * then `make`s the function's handler from them. A failed start is forgotten, so the next
 * request tries again (e.g. while Aurora resumes).
 */
export function coldStart<T>(make: (services: Services) => T, build: () => Promise<Services> = () => buildServices(loadConfig(process.env))): () => Promise<T> {
  let starting: Promise<T> | undefined;
  return () => {
    starting ??= build()
      .then(make)
      .catch((err: unknown) => {
        starting = undefined;
        throw err;
      });
    return starting;
  };
}
