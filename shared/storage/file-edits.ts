/**
 * Editing a file the owner already has: make an earlier version current again (as a new version,
 * so the history is kept and the quota applies), rename it, or delete it for good from the bin.
 */
import type { Db } from '../catalog/db.js';
import { FileEditsRepository } from '../catalog/file-edits.js';
import { BadRequest, Conflict, NotFound } from '../errors.js';
import type { Commits } from './commits.js';
import type { EngineContext } from './context.js';
import type { Files } from './files.js';
import { validateName } from './limits.js';
import type { FileInfo } from './types.js';

const UUID_RE = /^[0-9a-f-]{36}$/i;

export class FileEdits {
  private readonly repo: FileEditsRepository;

  constructor(
    private readonly ctx: EngineContext,
    db: Db,
    private readonly files: Files,
    private readonly commits: Commits,
  ) {
    this.repo = new FileEditsRepository(db);
  }

  /**
   * Commit the content of `version` as a new current version. The chunks are the old version's
   * (no bytes move); the commit is conditional on the current version read here, so a write that
   * lands in between makes this fail with 412 rather than silently win or lose.
   */
  async restoreVersion(ownerId: string, fileId: string, version: number): Promise<FileInfo> {
    const f = await this.files.liveFile(ownerId, fileId);
    const v = await this.files.versionRow(f.id, version);
    if (v.version === f.currentVersion) throw new Conflict(`Version ${version} is the current version already; there is nothing to restore.`, 'already_current');
    const chunks = await this.repo.versionChunks(v.id);
    return this.commits.commitVersion(ownerId, {
      name: f.name,
      size: Number(v.size),
      sha256: v.sha256,
      contentType: v.contentType,
      chunks,
      mode: v.mode,
      ifMatch: f.currentVersion,
    });
  }

  /** Give a live file another name; 409 `name_taken` when another live file has it. */
  async rename(ownerId: string, fileId: string, rawName: string): Promise<FileInfo> {
    let name: string;
    try {
      name = validateName(rawName);
    } catch (err) {
      if (err instanceof BadRequest) throw new BadRequest(err.message, err.code, { field: 'name' });
      throw err;
    }
    const f = await this.files.liveFile(ownerId, fileId);
    if (f.name !== name) await this.repo.rename(ownerId, f.id, name, this.ctx.now());
    return this.files.getFileInfo(ownerId, f.id);
  }

  /** Delete a file in the bin for good; a live file must be moved to the bin first (409 `not_deleted`). */
  async deleteForever(ownerId: string, fileId: string): Promise<void> {
    if (!UUID_RE.test(fileId)) throw new NotFound('No such file.', 'file_not_found');
    if (await this.repo.purgeDeleted(ownerId, fileId)) return;
    if (await this.ctx.catalog.file(ownerId, fileId, 'live')) {
      throw new Conflict('This file is not in the bin: delete it first (DELETE without ?permanent=true), then delete it forever.', 'not_deleted');
    }
    throw new NotFound('No such file.', 'file_not_found');
  }
}
