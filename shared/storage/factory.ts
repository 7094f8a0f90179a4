/**
 * Building the storage engine from config: one S3 replica per region (emulators locally), the
 * catalog, and the mode and health ports (the controller's when given, else the fixed mode and
 * the in-memory health picture).
 */
import type { Config } from '../config.js';
import type { Db } from '../catalog/db.js';
import { StorageEngine, type StorageEngineDeps } from './engine.js';
import { createReplicaStores } from './s3-store.js';

export type StorageOptions = Partial<Omit<StorageEngineDeps, 'db' | 'config'>>;

export function createStorageEngine(config: Config, db: Db, opts: StorageOptions = {}): StorageEngine {
  return new StorageEngine({ ...opts, db, config, stores: opts.stores ?? createReplicaStores(config) });
}
