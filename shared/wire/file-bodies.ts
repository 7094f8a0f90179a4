/**
 * Wire bodies of the files API: files, listings, versions, manifests, deletions, upload sessions
 * and chunk puts. Re-exported by shared/wire/responses.ts, which maps each route to its bodies.
 */
import { z } from 'zod';
import { iso, modeEnum, published } from './common-bodies.js';

// ---------------------------------------------------------------- files

export const replicaSummaryBody = z
  .object({
    chunks: z.number().int().meta({ description: 'Chunks of the current version.' }),
    present: z.record(z.string(), z.number().int()).meta({ description: 'Region → chunks of the current version present there.' }),
    complete: z.array(z.string()).meta({ description: 'Regions holding every chunk.' }),
    under_replicated: z.number().int().meta({ description: 'Chunks with fewer present copies than a majority of replicas.' }),
  })
  .meta({ id: 'ReplicaSummary' });
export type ReplicaSummaryBody = z.infer<typeof replicaSummaryBody>;

/** How a write was acknowledged (upload and commit answers). */
export const writeAckBody = z
  .object({
    mode: modeEnum.meta({ description: 'The consistency mode the write was acknowledged under.' }),
    replicas_acked: z.number().int().meta({ description: 'How many replicas held every chunk when the write was acknowledged.' }),
    acked: z.array(z.string()).meta({ description: 'Those replicas (regions).' }),
    pending: z.array(z.string()).meta({ description: 'Regions missing some chunk then: the replicator copies to them.' }),
    degraded: z.boolean().meta({ description: 'Fewer than a majority of replicas held it.' }),
  })
  .meta({ id: 'WriteAck' });
export type WriteAckBody = z.infer<typeof writeAckBody>;

/** One file (current version). */
export const fileBody = z
  .object({
    file_id: z.string().meta(published('The file id (a UUID).')),
    name: z.string().meta(published('The file name.')),
    size: z.number().int().meta(published('Bytes of the current version.')),
    file_size: z.number().int().meta(published('Same as size (the upload answer).')),
    version: z.number().int(),
    chunks: z.number().int().meta(published('Chunks of the current version.')),
    compressed: z.boolean().meta(published('Whether any chunk is stored compressed.')),
    sha256: z.string(),
    content_type: z.string(),
    mode: modeEnum,
    uploaded: iso.nullable().meta(published('When the current version was written (ISO 8601).')),
    created: iso.nullable(),
    deleted: iso.optional().meta({ description: 'When the file was moved to the bin (only for files in it).' }),
    ack: writeAckBody.optional().meta({ description: 'On the answer of a write (upload, commit): how it was acknowledged.' }),
  })
  .meta({ id: 'File' });
export type FileBody = z.infer<typeof fileBody>;

export const fileListItemBody = fileBody.extend({ replicas: replicaSummaryBody }).meta({ id: 'FileListItem' });
export type FileListItemBody = z.infer<typeof fileListItemBody>;

export const fileListBody = z
  .object({
    success: z.literal(true),
    data: z.array(fileListItemBody).meta(published('The files: an array.')),
    count: z.number().int(),
    limit: z.number().int(),
    next_cursor: z.string().nullable().meta({ description: 'Pass as ?cursor= for the next page; null on the last page.' }),
    trash_retention_seconds: z
      .number()
      .int()
      .optional()
      .meta({ description: 'Only with ?deleted=true: how long a file stays in the bin before it is deleted for good, in seconds; 0 keeps it until deleted forever.' }),
  })
  .meta({ id: 'FileList' });
export type FileListBody = z.infer<typeof fileListBody>;

/** `{success, data: file}`: upload, commit, restore. */
export const fileEnvelope = z.object({ success: z.literal(true), data: fileBody }).meta({ id: 'FileEnvelope' });
export type FileEnvelope = z.infer<typeof fileEnvelope>;

export const versionBody = z
  .object({
    version: z.number().int(),
    size: z.number().int(),
    sha256: z.string(),
    chunks: z.number().int(),
    content_type: z.string(),
    mode: modeEnum,
    uploaded: iso.nullable(),
    current: z.boolean(),
  })
  .meta({ id: 'Version' });
export type VersionBody = z.infer<typeof versionBody>;

export const placementStateEnum = z.enum(['present', 'pending', 'missing']);

export const fileDetailBody = z
  .object({
    success: z.literal(true),
    data: fileBody.extend({
      versions: z.array(versionBody),
      replicas: replicaSummaryBody,
      placements: z.array(
        z.object({ index: z.number().int(), hash: z.string(), size: z.number().int(), compressed: z.boolean(), regions: z.record(z.string(), placementStateEnum) }),
      ),
      placements_truncated: z.boolean(),
    }),
  })
  .meta({ id: 'FileDetail' });
export type FileDetailBody = z.infer<typeof fileDetailBody>;

export const manifestChunkBody = z.object({
  index: z.number().int(),
  hash: z.string(),
  size: z.number().int(),
  offset: z.number().int(),
  compressed: z.boolean(),
  region: z.string().nullable(),
  url: z.string().nullable().meta({ description: 'Presigned GET of the stored chunk; null when no replica holding it is reachable.' }),
});
export type ManifestChunkBody = z.infer<typeof manifestChunkBody>;

export const manifestBody = z
  .object({
    success: z.literal(true),
    data: fileBody.omit({ chunks: true }).extend({
      chunk_size: z.number().int(),
      expires_in: z.number().int().meta({ description: 'Seconds the URLs stay valid.' }),
      encoding: z.string(),
      chunks: z.array(manifestChunkBody),
    }),
  })
  .meta({ id: 'Manifest' });
export type ManifestBody = z.infer<typeof manifestBody>;

export const downloadLinkBody = z
  .object({
    success: z.literal(true),
    data: z.object({
      url: z.string().meta({ description: 'Path of the streamed download with the signed link (`link`, and `version` when asked); open it on the API origin, no Authorization needed.' }),
      expires_at: z.string().meta({ description: 'When the link stops working (ISO 8601).' }),
      expires_in_seconds: z.number().int().meta({ description: 'Seconds the link stays good.' }),
    }),
  })
  .meta({ id: 'DownloadLink' });
export type DownloadLinkBody = z.infer<typeof downloadLinkBody>;

export const versionsBody = z
  .object({ success: z.literal(true), data: z.object({ file_id: z.string(), versions: z.array(versionBody) }) })
  .meta({ id: 'Versions' });
export type VersionsBody = z.infer<typeof versionsBody>;

export const deletedBody = z
  .object({
    success: z.literal(true),
    message: z.literal('File deleted successfully').meta(published('Always "File deleted successfully".')),
    file_id: z.string(),
    restorable: z.boolean(),
    hint: z.string(),
  })
  .meta({ id: 'Deleted' });
export type DeletedBody = z.infer<typeof deletedBody>;

export const uploadSessionBody = z
  .object({
    upload_id: z.string(),
    name: z.string(),
    size: z.number().int(),
    sha256: z.string(),
    chunks: z.number().int(),
    chunk_size: z.number().int(),
    missing: z.array(z.string()).meta({ description: 'Hashes of the chunks still to send.' }),
    expires_at: iso.nullable(),
    committed: z.boolean(),
  })
  .meta({ id: 'UploadSession' });
export type UploadSessionBody = z.infer<typeof uploadSessionBody>;

export const uploadSessionEnvelope = z.object({ success: z.literal(true), data: uploadSessionBody }).meta({ id: 'UploadSessionEnvelope' });
export type UploadSessionEnvelope = z.infer<typeof uploadSessionEnvelope>;

export const chunkPutBody = z
  .object({
    success: z.literal(true),
    data: z.object({
      hash: z.string(),
      size: z.number().int(),
      stored: z.literal(true),
      deduped: z.boolean(),
      compressed: z.boolean(),
      acked: z.array(z.string()).meta({ description: 'Regions holding the chunk when the write was acknowledged.' }),
      pending: z.array(z.string()).meta({ description: 'Regions left to the replicator.' }),
      mode: modeEnum,
      degraded: z.boolean(),
    }),
  })
  .meta({ id: 'ChunkPut' });
export type ChunkPutBody = z.infer<typeof chunkPutBody>;
