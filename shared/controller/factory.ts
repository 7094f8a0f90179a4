/**
 * Building the controller from config: the DynamoDB store (dynalite locally), the health tracker
 * and the service; and the prober of a service container over the replica stores.
 */
import type { Config } from '../config.js';
import { createDynamoClients } from '../clients.js';
import type { Db } from '../catalog/db.js';
import { backlogStats, expediteRegions, type ReplicationTrigger } from '../storage/replicator.js';
import { createReplicaStores } from '../storage/s3-store.js';
import { backlogReport } from '../storage/backlog-report.js';
import type { ObjectStore } from '../storage/ports.js';
import { HealthTracker } from './health.js';
import { catalogWriteRate, Prober } from './prober.js';
import type { Backlog } from './reports.js';
import { ControllerService } from './service.js';
import { catalogOwners } from './targets.js';
import { DynamoControllerStore } from './dynamo-store.js';
import type { ControllerStore } from './store.js';
import type { Clock } from '../clock.js';

export interface Controller {
  store: ControllerStore;
  health: HealthTracker;
  service: ControllerService;
}

export interface ControllerDeps {
  db?: Db;
  health?: HealthTracker;
  /** Any store (e.g. a fake); by default the DynamoDB one from config, its table created locally. */
  store?: ControllerStore;
  clock?: Clock;
}

export function storeFromConfig(config: Pick<Config, 'table' | 'dynamoEndpoint' | 'regions' | 'controller'>, clock?: Clock): DynamoControllerStore {
  const region = process.env.AWS_REGION ?? config.regions[0] ?? 'us-east-1';
  const { client, doc } = createDynamoClients({ region, endpoint: config.dynamoEndpoint });
  return new DynamoControllerStore({ client, doc, table: config.table, auditTtlDays: config.controller.auditTtlDays, clock });
}

export function catalogBacklog(db: Db): () => Promise<Backlog> {
  return () => backlogStats(db);
}

/**
 * The controller of one process. Locally (stage 'local' or an explicit DynamoDB endpoint) the
 * table is created when missing.
 */
export async function createController(config: Config, deps: ControllerDeps = {}): Promise<Controller> {
  let store = deps.store;
  if (!store) {
    const dynamo = storeFromConfig(config, deps.clock);
    if (config.stage === 'local' || config.dynamoEndpoint) await dynamo.ensureTable();
    store = dynamo;
  }
  const health = deps.health ?? new HealthTracker(config.regions, { clock: deps.clock });
  const service = new ControllerService({
    store,
    regions: config.regions,
    controller: config.controller,
    health,
    owners: deps.db ? catalogOwners(deps.db) : undefined,
    backlog: deps.db ? () => backlogReport(deps.db!, { clock: deps.clock }) : undefined,
    clock: deps.clock,
  });
  return { store, health, service };
}

/** What the prober needs of the service container (`Services` with a controller satisfies it). */
export interface ProberServices {
  config: Config;
  catalog: { db: Db };
  controller: ControllerService;
  /** How a recovered region's backlog is retried at once (the container's replication trigger). */
  replication?: ReplicationTrigger;
}

/** The prober of a service container; the replica stores default to one per configured region. */
export function createProber(services: ProberServices, stores?: readonly ObjectStore[], clock?: Clock): Prober {
  const { config, catalog, controller } = services;
  return new Prober({
    stores: stores ?? [...createReplicaStores(config).values()],
    store: controller.store,
    health: controller.health,
    controller: config.controller,
    service: controller,
    backlog: catalogBacklog(catalog.db),
    writeRate: catalogWriteRate(catalog.db, 60_000, clock),
    clock,
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
