/**
 * Building the controller from config: the DynamoDB store (dynalite locally), the health tracker
 * and the service; and the prober over the replica stores.
 */
import type { Config } from '../config.js';
import { createDynamoClients } from '../clients.js';
import type { Db } from '../catalog/db.js';
import { backlogStats } from '../storage/replicator.js';
import type { ObjectStore } from '../storage/ports.js';
import { HealthTracker } from './health.js';
import { catalogWriteRate, Prober } from './prober.js';
import { catalogOwners, ControllerService, type Backlog } from './service.js';
import { ControllerStore } from './store.js';

export interface Controller {
  store: ControllerStore;
  health: HealthTracker;
  service: ControllerService;
}

export interface ControllerDeps {
  db?: Db;
  health?: HealthTracker;
  store?: ControllerStore;
  now?: () => number;
}

export function storeFromConfig(config: Pick<Config, 'table' | 'dynamoEndpoint' | 'regions' | 'controller'>, now?: () => number): ControllerStore {
  const region = process.env.AWS_REGION ?? config.regions[0] ?? 'us-east-1';
  const { client, doc } = createDynamoClients({ region, endpoint: config.dynamoEndpoint });
  return new ControllerStore({ client, doc, table: config.table, auditTtlDays: config.controller.auditTtlDays, now });
}

export function catalogBacklog(db: Db): () => Promise<Backlog> {
  return () => backlogStats(db);
}

/**
 * The controller of one process. Locally (stage 'local' or an explicit DynamoDB endpoint) the
 * table is created when missing.
 */
export async function createController(config: Config, deps: ControllerDeps = {}): Promise<Controller> {
  const store = deps.store ?? storeFromConfig(config, deps.now);
  if (config.stage === 'local' || config.dynamoEndpoint) await store.ensureTable();
  const health = deps.health ?? new HealthTracker(config.regions, { now: deps.now });
  const service = new ControllerService({
    store,
    regions: config.regions,
    controller: config.controller,
    health,
    owners: deps.db ? catalogOwners(deps.db) : undefined,
    backlog: deps.db ? catalogBacklog(deps.db) : undefined,
    now: deps.now,
  });
  return { store, health, service };
}

export function createProberFor(
  config: Config,
  c: Controller,
  stores: readonly ObjectStore[],
  o: { db?: Db; now?: () => number } = {},
): Prober {
  return new Prober({
    stores,
    store: c.store,
    health: c.health,
    controller: config.controller,
    service: c.service,
    backlog: o.db ? catalogBacklog(o.db) : undefined,
    writeRate: o.db ? catalogWriteRate(o.db, 60_000, o.now) : undefined,
    now: o.now,
  });
}
