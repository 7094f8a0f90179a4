/**
 * The local stand-ins for the AWS storage services: one s3rver per region (each its own bucket and
 * directory) and one dynalite, all on free ports chosen by the OS so that several EchoFS instances
 * can run side by side. Everything persists under the data dir.
 */
import type S3rver from 's3rver';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface S3Emulator {
  region: string;
  bucket: string;
  /** 127.0.0.1 port the s3rver listens on (the fault proxy sits in front of it). */
  port: number;
  endpoint: string;
  directory: string;
}

export interface Emulators {
  s3: Record<string, S3Emulator>;
  dynamoEndpoint: string;
  dynamoPort: number;
  stop(): Promise<void>;
}

export interface EmulatorOptions {
  dataDir: string;
  regions: string[];
  /** region -> bucket name */
  buckets: Record<string, string>;
}

const HOST = '127.0.0.1';

function checkBucketName(region: string, name: string): void {
  if (name.length < 3 || name.length > 63 || !/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) {
    throw new Error(`bucket name '${name}' for region ${region} must be 3 to 63 lower-case letters, digits, dots or hyphens`);
  }
}

/**
 * CORS of a local chunk bucket, as the replica stacks set it in the cloud: the web app fetches the
 * chunks of large files from presigned URLs, which are on another origin (the fault proxy's port).
 */
export const LOCAL_BUCKET_CORS = `<CORSConfiguration><CORSRule>
  <AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><AllowedMethod>HEAD</AllowedMethod>
  <AllowedHeader>range</AllowedHeader>
  <ExposeHeader>content-length</ExposeHeader><ExposeHeader>content-range</ExposeHeader><ExposeHeader>etag</ExposeHeader>
  <MaxAgeSeconds>3600</MaxAgeSeconds>
</CORSRule></CORSConfiguration>`;

async function startS3(region: string, bucket: string, dataDir: string): Promise<{ server: S3rver; info: S3Emulator }> {
  checkBucketName(region, bucket);
  const directory = join(dataDir, 's3', region);
  await mkdir(directory, { recursive: true });
  // Loaded on use (here and for dynalite): in the start bundle an import at the top would load
  // them before anything else, and the catalog's opening starts sooner without waiting for them.
  const { default: S3rverServer } = await import('s3rver');
  const server = new S3rverServer({
    address: HOST,
    port: 0,
    silent: true,
    directory,
    vhostBuckets: false,
    configureBuckets: [{ name: bucket, configs: [LOCAL_BUCKET_CORS] }],
  });
  const addr = await server.run();
  const info: S3Emulator = { region, bucket, port: addr.port, endpoint: `http://${HOST}:${addr.port}`, directory };
  return { server, info };
}

async function closeS3(server: S3rver): Promise<void> {
  const http = server.httpServer;
  if (!http || !http.listening) return;
  const closed = server.close();
  http.closeAllConnections();
  await closed;
}

async function startDynalite(dataDir: string): Promise<{ server: Server; port: number }> {
  const path = join(dataDir, 'dynamo');
  await mkdir(path, { recursive: true });
  const { default: dynalite } = await import('dynalite');
  const server = dynalite({ path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}

async function closeDynalite(server: Server): Promise<void> {
  if (!server.listening) return;
  await new Promise<void>((resolve, reject) => {
    server.close((err?: Error) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

/** Start every emulator; if one fails, the ones already started are stopped before rethrowing. */
export async function startEmulators(o: EmulatorOptions): Promise<Emulators> {
  const s3Servers: S3rver[] = [];
  const s3: Record<string, S3Emulator> = {};
  let dyn: { server: Server; port: number } | undefined;
  const stopAll = async () => {
    const results = await Promise.allSettled([
      ...s3Servers.map((s) => closeS3(s)),
      ...(dyn ? [closeDynalite(dyn.server)] : []),
    ]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  };
  // All at once; every start is settled (so each server that did start is stopped) before a failure is rethrown.
  const started = await Promise.allSettled([
    ...o.regions.map(async (region) => {
      const { server, info } = await startS3(region, o.buckets[region] ?? `echofs-${region}`, o.dataDir);
      s3Servers.push(server);
      return info;
    }),
    startDynalite(o.dataDir).then((d) => {
      dyn = d;
    }),
  ]);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed || !dyn) {
    await stopAll().catch(() => undefined);
    throw failed?.reason ?? new Error('dynalite did not start');
  }
  // In the order of the regions, whichever started first.
  for (const r of started) if (r.status === 'fulfilled' && r.value) s3[r.value.region] = r.value;
  const dynamoPort = dyn.port;
  let stopped: Promise<void> | undefined;
  return {
    s3,
    dynamoPort,
    dynamoEndpoint: `http://${HOST}:${dynamoPort}`,
    stop() {
      stopped ??= stopAll();
      return stopped;
    },
  };
}
