/**
 * Changes to the local replicas (s3rver): durable writes and deletes that do not read their folder
 * (makeS3rverPutsDurable), no request log when silent (dropRequestLog), and a HeadBucket that does
 * not list the bucket (answerHeadBucketDirectly).
 *
 * s3rver answers a PutObject before the object's bytes reach its file: its filesystem store
 * resolves as soon as the request body has been read, while the file write is still under way (and
 * it writes in place, truncating the previous copy first); it then writes the object's MD5 and
 * metadata files in place too. A read right after an acknowledged write could see an empty or
 * partial object, which S3 never allows, and a crash in the middle of a write left a cut-short
 * metadata file that made s3rver fail every listing of the bucket. This replaces the store's
 * putObject and putMetadata with ones that write each file to a temporary file and rename it into
 * place, the object before it answers: a reader sees the old copy or the new one, never a mix, and
 * a crash leaves nothing half-written in the store.
 *
 * The temporary files are written beside the store's directory, never in it (partialDir): after a
 * crash, what a write left behind is that one directory's content, removed at the next start
 * without looking at the stored objects, so a restart takes no longer with more data.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, rmdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, dirname, join, sep } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: unknown;
}

interface FilesystemStore {
  rootDirectory: string;
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
  deleteObject(bucket: string, key: string): Promise<void>;
}

/**
 * Where a store rooted at `root` writes its files before renaming them into place: a directory
 * beside the root (s3rver would take a directory inside it for a bucket), on the same file system.
 * Only the process serving the store writes there, and what it holds at a start is what a crash
 * left: `clearPartialDir` empties it.
 */
export function partialDir(root: string): string {
  return join(dirname(root), '.partial', basename(root));
}

/** Remove what interrupted writes left beside the store rooted at `root`, and make the directory again. */
export async function clearPartialDir(root: string): Promise<void> {
  const dir = partialDir(root);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
}

const partialDirs = new Map<string, Promise<string>>();

/** The store's partial directory, made on its first use in this process (a store started without clearPartialDir). */
function partialDirOf(store: FilesystemStore): Promise<string> {
  let p = partialDirs.get(store.rootDirectory);
  if (!p) {
    const dir = partialDir(store.rootDirectory);
    p = mkdir(dir, { recursive: true }).then(() => dir);
    p.catch(() => partialDirs.delete(store.rootDirectory));
    partialDirs.set(store.rootDirectory, p);
  }
  return p;
}

const tmpName = (dir: string) => join(dir, `${randomBytes(8).toString('hex')}.tmp`);

/**
 * Rename `tmp` to `path`, making `path`'s directory again when the delete of the last object in it
 * removed it in the meantime (deleteObject removes directories it leaves empty).
 */
async function renameInto(tmp: string, path: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await rename(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw err;
      await mkdir(dirname(path), { recursive: true });
    }
  }
}

/** Write `data` to `path` through a temporary file renamed into place: `path` holds the old content or the new, whole. */
async function writeWhole(store: FilesystemStore, path: string, data: string): Promise<void> {
  const tmp = tmpName(await partialDirOf(store));
  try {
    await writeFile(tmp, data);
    await renameInto(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** s3rver's own choice of metadata to keep (ALLOWED_METADATA and x-amz-meta-*), as its putMetadata stores it. */
const S3Object = createRequire(import.meta.url)('s3rver/lib/models/object.js') as { ALLOWED_METADATA: string[] };

function storedMetadata(metadata: unknown): Record<string, unknown> {
  const given = (metadata ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of S3Object.ALLOWED_METADATA) if (k in given) out[k] = given[k];
  for (const [k, v] of Object.entries(given)) if (k.startsWith('x-amz-meta-')) out[k] = v;
  return out;
}

let installed = false;

/**
 * Make every s3rver in this process acknowledge a PUT only once its object is in place, write
 * every object, MD5 and metadata file whole (a temporary file renamed into place), and delete
 * without reading the object's directory.
 */
export function makeS3rverPutsDurable(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const Store = require('s3rver/lib/stores/filesystem.js') as { prototype: FilesystemStore };
  Store.prototype.putObject = async function putObject(this: FilesystemStore, object: S3rverObject) {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    const [partial] = await Promise.all([partialDirOf(this), mkdir(dirname(objectPath), { recursive: true })]);
    const tmp = tmpName(partial);
    const md5 = createHash('md5');
    let size = 0;
    const counting = new Transform({
      transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
        md5.update(chunk);
        size += chunk.length;
        callback(null, chunk);
      },
    });
    const source = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    try {
      await pipeline(source, counting, createWriteStream(tmp));
      await renameInto(tmp, objectPath);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const digest = md5.digest('hex');
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
  };
  Store.prototype.putMetadata = async function putMetadata(this: FilesystemStore, bucket: string, key: string, metadata: unknown, md5: string) {
    // As s3rver's own: the MD5 first, then the metadata (its JSON laid out the same way).
    if (md5) await writeWhole(this, this.getResourcePath(bucket, key, 'object.md5'), md5);
    await writeWhole(this, this.getResourcePath(bucket, key, 'metadata.json'), JSON.stringify(storedMetadata(metadata), null, 2));
  };
  Store.prototype.deleteObject = async function deleteObject(this: FilesystemStore, bucket: string, key: string) {
    const objectPath = this.getResourcePath(bucket, key, 'object');
    await Promise.all(['object', 'object.md5', 'metadata.json'].map((r) => rm(this.getResourcePath(bucket, key, r), { force: true })));
    // The directories the delete leaves empty go, up to the bucket's, as s3rver's own delete does;
    // but each is only asked to go (refused at once when not empty) instead of being read first:
    // s3rver read it synchronously, all of it, so beside 20,000 chunks of one owner each delete
    // took 40 ms and stopped the process's event loop for as long.
    const bucketPath = join(this.rootDirectory, bucket);
    for (let dir = dirname(objectPath); dir.startsWith(bucketPath + sep); dir = dirname(dir)) {
      try {
        await rmdir(dir);
      } catch {
        break; // not empty (or already gone): nothing above it is empty either
      }
    }
  };
}

/**
 * A silent s3rver still builds a log line for every request: its koa-logger middleware times the
 * request, wraps every response body in a byte-counting stream, colours and formats the line, and
 * hands it to a Winston logger whose only transport is muted. About 3–4 % of the local stack's CPU
 * under small writes, for no output. Drops that middleware from a silent s3rver before it starts
 * (its `logger`, which s3rver's handlers use for warnings, stays). Returns whether it was found.
 */
export function dropRequestLog(server: { middleware: unknown[] }): boolean {
  const i = server.middleware.findIndex((fn) => typeof fn === 'function' && fn.name === 'logger');
  if (i < 0) return false;
  server.middleware.splice(i, 1);
  return true;
}

/** The part of a Koa context the HeadBucket middleware reads and sets. */
interface BucketContext {
  method: string;
  path: string;
  querystring: string;
  status: number;
  app: { store: { getBucket(name: string): Promise<unknown> } };
}

/**
 * s3rver serves HEAD with its GET routes, so a HeadBucket (the replicas' reachability check in
 * /api/v1/health) ran its ListObjects handler: up to 1,000 objects' metadata files opened and read,
 * all at once, on every call: with 2,000 objects in each replica a health check took half a
 * second, and under a process's usual limit of open files (1024, 256 on macOS) it failed outright
 * (500): a full replica looked down. This answers HeadBucket from the bucket's
 * directory alone, as S3 does: 200 when it exists; a missing bucket goes on to s3rver's own 404.
 * Call it before the server starts (Koa composes its middleware then).
 */
export function answerHeadBucketDirectly(server: { middleware: unknown[] }): void {
  server.middleware.unshift(async (ctx: BucketContext, next: () => Promise<void>) => {
    const encoded = ctx.method === 'HEAD' && ctx.querystring === '' ? /^\/([^/]+)\/?$/.exec(ctx.path)?.[1] : undefined;
    let bucket: string | undefined;
    try {
      bucket = encoded === undefined ? undefined : decodeURIComponent(encoded);
    } catch {
      bucket = undefined; // not a name: s3rver answers it
    }
    if (bucket === undefined || !(await ctx.app.store.getBucket(bucket))) return next();
    ctx.status = 200;
  });
}
