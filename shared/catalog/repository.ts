/**
 * The data path's catalog port: every SQL statement the storage engine runs, behind one
 * interface, `CatalogRepository`. It is the union of four repositories, one per job, each in its
 * own module with its Drizzle adapter:
 *
 *   ./chunk-repository.ts    chunks and their placements (which region holds which chunk)
 *   ./file-repository.ts     files, versions, listings and manifests (reads)
 *   ./usage-repository.ts    commit, soft delete, undelete and the owner's usage counter
 *   ./session-repository.ts  upload sessions and their saved hash state
 *
 * `DrizzleCatalogRepository` is the facade the engine builds: one object over the Drizzle `Db`
 * (PGlite, node-postgres or the RDS Data API: only portable SQL is used) that forwards each method
 * to the module owning it. A new statement goes in the module of the rows it reads or writes, its
 * signature in that module's interface, and one forwarding line here. Business rules (quorum, CAS,
 * quota limits) stay in shared/storage/; the repositories only read and write.
 */
import type { Db } from './db.js';
import { DrizzleChunkRepository, type ChunkRepository } from './chunk-repository.js';
import { DrizzleFileRepository, type FileRepository } from './file-repository.js';
import { DrizzleSessionRepository, type SessionRepository } from './session-repository.js';
import { DrizzleUsageRepository, type UsageRepository } from './usage-repository.js';

export type { ChunkRecord, ChunkRepository, Placement } from './chunk-repository.js';
export type { FileRepository, FileRow, ManifestRow, VersionRow } from './file-repository.js';
export type { NewSession, SessionRepository, SessionRow } from './session-repository.js';
export type { NewVersion, UsageRepository } from './usage-repository.js';

/** The catalog as the data path sees it. */
export interface CatalogRepository extends ChunkRepository, FileRepository, UsageRepository, SessionRepository {}

type Method<K extends keyof CatalogRepository> = CatalogRepository[K];

export class DrizzleCatalogRepository implements CatalogRepository {
  readonly chunkRepository: ChunkRepository;
  readonly fileRepository: FileRepository;
  readonly usageRepository: UsageRepository;
  readonly sessionRepository: SessionRepository;

  constructor(readonly db: Db) {
    this.chunkRepository = new DrizzleChunkRepository(db);
    this.fileRepository = new DrizzleFileRepository(db);
    this.usageRepository = new DrizzleUsageRepository(db);
    this.sessionRepository = new DrizzleSessionRepository(db);
  }

  // Chunks and placements.
  touchChunk: Method<'touchChunk'> = (...a) => this.chunkRepository.touchChunk(...a);
  touchChunks: Method<'touchChunks'> = (...a) => this.chunkRepository.touchChunks(...a);
  placements: Method<'placements'> = (...a) => this.chunkRepository.placements(...a);
  placementsOf: Method<'placementsOf'> = (...a) => this.chunkRepository.placementsOf(...a);
  recordChunk: Method<'recordChunk'> = (...a) => this.chunkRepository.recordChunk(...a);
  markPresent: Method<'markPresent'> = (...a) => this.chunkRepository.markPresent(...a);
  markMissing: Method<'markMissing'> = (...a) => this.chunkRepository.markMissing(...a);
  hashesWithCopies: Method<'hashesWithCopies'> = (...a) => this.chunkRepository.hashesWithCopies(...a);

  // Files, versions and manifests.
  file: Method<'file'> = (...a) => this.fileRepository.file(...a);
  liveFileIdByName: Method<'liveFileIdByName'> = (...a) => this.fileRepository.liveFileIdByName(...a);
  version: Method<'version'> = (...a) => this.fileRepository.version(...a);
  fileVersion: Method<'fileVersion'> = (...a) => this.fileRepository.fileVersion(...a);
  versions: Method<'versions'> = (...a) => this.fileRepository.versions(...a);
  compressedVersions: Method<'compressedVersions'> = (...a) => this.fileRepository.compressedVersions(...a);
  listFiles: Method<'listFiles'> = (...a) => this.fileRepository.listFiles(...a);
  placementCounts: Method<'placementCounts'> = (...a) => this.fileRepository.placementCounts(...a);
  manifestPage: Method<'manifestPage'> = (...a) => this.fileRepository.manifestPage(...a);

  // Usage, commits, deletes and restores.
  usedBytes: Method<'usedBytes'> = (...a) => this.usageRepository.usedBytes(...a);
  fileBytes: Method<'fileBytes'> = (...a) => this.usageRepository.fileBytes(...a);
  commitVersion: Method<'commitVersion'> = (...a) => this.usageRepository.commitVersion(...a);
  commitVersionIf: Method<'commitVersionIf'> = (...a) => this.usageRepository.commitVersionIf(...a);
  softDelete: Method<'softDelete'> = (...a) => this.usageRepository.softDelete(...a);
  undelete: Method<'undelete'> = (...a) => this.usageRepository.undelete(...a);

  // Upload sessions.
  createSession: Method<'createSession'> = (...a) => this.sessionRepository.createSession(...a);
  session: Method<'session'> = (...a) => this.sessionRepository.session(...a);
  expireSession: Method<'expireSession'> = (...a) => this.sessionRepository.expireSession(...a);
  sessionHash: Method<'sessionHash'> = (...a) => this.sessionRepository.sessionHash(...a);
  advanceSessionHash: Method<'advanceSessionHash'> = (...a) => this.sessionRepository.advanceSessionHash(...a);
}
