/**
 * Fixtures for the storage tests: real s3rvers (one per region, temp dirs, free ports) with one
 * S3ObjectStore each, for tests of the S3 adapter without the whole local stack.
 */
import S3rver from 's3rver';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReplicaStores, type S3ObjectStore } from '#shared/storage/s3-store.js';
import { dropRequestLog, makeS3rverPutsDurable } from '#local/s3rver-durable.js';

export const REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];

export interface S3Fixture {
  endpoints: Record<string, string>;
  buckets: Record<string, string>;
  stores: Map<string, S3ObjectStore>;
  /** Where the replicas keep their files (one folder per region). */
  directory: string;
  stop(): Promise<void>;
}

export async function startS3rvers(regions: string[] = REGIONS, timeoutMs = 3000): Promise<S3Fixture> {
  makeS3rverPutsDurable();
  const root = await mkdtemp(join(tmpdir(), 'echofs-s3-'));
  const servers: S3rver[] = [];
  const endpoints: Record<string, string> = {};
  const buckets: Record<string, string> = {};
  for (const region of regions) {
    const bucket = `echofs-${region}`;
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: join(root, region), configureBuckets: [{ name: bucket }] });
    dropRequestLog(server);
    const addr = await server.run();
    servers.push(server);
    endpoints[region] = `http://127.0.0.1:${addr.port}`;
    buckets[region] = bucket;
  }
  const stores = createReplicaStores({ regions, buckets, s3Endpoints: endpoints, replicaTimeoutMs: timeoutMs });
  return {
    endpoints,
    buckets,
    stores,
    directory: root,
    async stop() {
      for (const s of servers) {
        const closed = s.close();
        s.httpServer?.closeAllConnections();
        await closed;
      }
      await rm(root, { recursive: true, force: true });
    },
  };
}
