/**
 * Two changes to the local replicas (s3rver): durable writes, and no request log when silent
 * (dropRequestLog, below).
 *
 * s3rver answers a PutObject before the object's bytes reach its file: its filesystem store
 * resolves as soon as the request body has been read, while the file write is still under way (and
 * it writes in place, truncating the previous copy first). A read right after an acknowledged write
 * can then see an empty or partial object, which S3 never allows. This replaces the store's
 * putObject with one that writes to a temporary file, waits for the write to finish, and renames it
 * into place before answering: a reader sees the old copy or the new one, never a mix.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: unknown;
}

interface FilesystemStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
  putObject(object: S3rverObject): Promise<{ size: number; md5: string }>;
}

let installed = false;

/** Make every s3rver in this process acknowledge a PUT only once its object is in place. */
export function makeS3rverPutsDurable(): void {
  if (installed) return;
  installed = true;
  const require = createRequire(import.meta.url);
  const Store = require('s3rver/lib/stores/filesystem.js') as { prototype: FilesystemStore };
  Store.prototype.putObject = async function putObject(this: FilesystemStore, object: S3rverObject) {
    const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
    await mkdir(dirname(objectPath), { recursive: true });
    const tmp = `${objectPath}.${randomBytes(6).toString('hex')}.tmp`;
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
      await rename(tmp, objectPath);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    const digest = md5.digest('hex');
    await this.putMetadata(object.bucket, object.key, object.metadata, digest);
    return { size, md5: digest };
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
