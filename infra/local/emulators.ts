/**
 * The local stand-ins for the AWS storage services: one s3rver per region (each its own bucket and
 * directory) and one dynalite, all on free ports chosen by the OS so that several EchoFS instances
 * can run side by side. Everything persists under the data dir.
 */
import type S3rver from 's3rver';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mapLimit } from '#shared/concurrency.js';
import { logger } from '#shared/observability.js';
import { answerHeadBucketDirectly, clearPartialDir, dropRequestLog, makeS3rverPutsDurable, partialDir } from './s3rver-durable.js';

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
  /** The previous process holding the data dir died without stopping: repair what it left half-written. */
  afterCrash?: boolean;
  /**
   * Start dynalite too (the default). False: the replicas only, for a process that hosts some of
   * the regions while another hosts dynalite (bench/replica-host.ts); dynamoEndpoint is then '' and
   * dynamoPort 0.
   */
  dynamo?: boolean;
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

/** Files the legacy repair reads at once: far under a process's usual limit of open files (1024, or 256 on macOS). */
const REPAIR_CONCURRENCY = 32;

/**
 * After a crash of a process that predates whole-file replica writes (infra/local/s3rver-durable.ts
 * now writes every file to a temporary file and renames it into place): s3rver wrote an object's
 * metadata (and its MD5) in place, after the object, so one it was writing when the process died
 * was left empty or cut short, and from then on s3rver failed every listing of that bucket,
 * HeadBucket included (500: the replica looks down). Such a file is removed: s3rver serves the
 * object with default metadata and recomputes the MD5, and EchoFS verifies every chunk against its
 * hash on read (a bad copy is skipped and repaired). The object itself was never acknowledged by
 * this replica: s3rver answers after both writes. This reads every metadata file, a bounded number
 * at a time; it runs once, on the first start after such a crash.
 */
async function removeTornMetadata(region: string, directory: string): Promise<void> {
  const files = (await readdir(directory, { recursive: true }).catch(() => [] as string[])).filter(
    (f) => f.endsWith('._S3rver_metadata.json') || f.endsWith('._S3rver_object.md5') || /\._S3rver_object\.[0-9a-f]+\.tmp$/.test(f),
  );
  let removed = 0;
  await mapLimit(files, REPAIR_CONCURRENCY, async (rel) => {
    const path = join(directory, rel);
    if (rel.endsWith('.tmp')) {
      // An object write the crash interrupted: it was never acknowledged.
      await rm(path, { force: true });
      removed++;
      return;
    }
    const text = await readFile(path, 'utf8').catch(() => undefined);
    if (text === undefined || !torn(rel, text)) return;
    await rm(path, { force: true });
    removed++;
  });
  if (removed > 0) logger.warn('replica files left half-written by a crash were removed', { region, files: removed });
}

function torn(name: string, text: string): boolean {
  if (name.endsWith('.md5')) return !/^[0-9a-f]{32}$/.test(text.trim());
  try {
    JSON.parse(text);
    return false;
  } catch {
    return true;
  }
}

async function startS3(region: string, bucket: string, dataDir: string, afterCrash: boolean): Promise<{ server: S3rver; info: S3Emulator }> {
  checkBucketName(region, bucket);
  const directory = join(dataDir, 's3', region);
  await mkdir(directory, { recursive: true });
  // A replica directory written only with whole-file writes has its partial directory beside it
  // (made at every start): after a crash, emptying that is the whole repair, however many objects
  // the replica holds. Without it the crashed process predates them, and the store is checked.
  // The check comes first: a crash during it leaves no partial directory, so the next start checks again.
  if (afterCrash && !existsSync(partialDir(directory))) await removeTornMetadata(region, directory);
  await clearPartialDir(directory);
  // Loaded on use (here and for dynalite): in the start bundle an import at the top would load
  // them before anything else, and the catalog's opening starts sooner without waiting for them.
  const { default: S3rverServer } = await import('s3rver');
  makeS3rverPutsDurable();
  const server = new S3rverServer({
    address: HOST,
    port: 0,
    silent: true,
    directory,
    vhostBuckets: false,
    configureBuckets: [{ name: bucket, configs: [LOCAL_BUCKET_CORS] }],
  });
  dropRequestLog(server);
  answerHeadBucketDirectly(server);
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

/**
 * Stop accepting, let the requests in flight finish (dynalite closes its database once the last
 * connection is gone: cutting a request short fails its next database step with an uncaught
 * "Database is closed"), close connections as they fall idle, and cut what is left after a grace.
 */
async function closeDynalite(server: Server, graceMs = 2_000): Promise<void> {
  if (!server.listening) return;
  const idle = setInterval(() => server.closeIdleConnections(), 25);
  const cut = setTimeout(() => server.closeAllConnections(), graceMs);
  try {
    await new Promise<void>((resolve, reject) => {
      server.close((err?: Error) => (err ? reject(err) : resolve()));
      server.closeIdleConnections();
    });
  } finally {
    clearInterval(idle);
    clearTimeout(cut);
  }
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
      const { server, info } = await startS3(region, o.buckets[region] ?? `echofs-${region}`, o.dataDir, o.afterCrash === true);
      s3Servers.push(server);
      return info;
    }),
    ...(o.dynamo === false
      ? []
      : [
          startDynalite(o.dataDir).then((d) => {
            dyn = d;
          }),
        ]),
  ]);
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed || (!dyn && o.dynamo !== false)) {
    await stopAll().catch(() => undefined);
    throw failed?.reason ?? new Error('dynalite did not start');
  }
  // In the order of the regions, whichever started first.
  for (const r of started) if (r.status === 'fulfilled' && r.value) s3[r.value.region] = r.value;
  const dynamoPort = dyn?.port ?? 0;
  let stopped: Promise<void> | undefined;
  return {
    s3,
    dynamoPort,
    dynamoEndpoint: dyn ? `http://${HOST}:${dynamoPort}` : '',
    stop() {
      stopped ??= stopAll();
      return stopped;
    },
  };
}
