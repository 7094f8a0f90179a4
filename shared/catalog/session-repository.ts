/**
 * Upload sessions: creating one, reading it back for its owner, expiring it, and its saved
 * whole-file hash state (advanced by compare-and-set, so two chunk requests never both extend
 * it). The session's commit mark is set by the version commit (./usage-repository.ts).
 */
import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from './db.js';
import { uploadSessions } from './schema.js';

export type SessionRow = typeof uploadSessions.$inferSelect;
export interface NewSession {
  ownerId: string;
  name: string;
  size: number;
  sha256: string;
  contentType: string;
  chunks: { hash: string; size: number }[];
  createdAt: Date;
  expiresAt: Date;
}

/** The catalog's upload sessions. */
export interface SessionRepository {
  createSession(s: NewSession): Promise<SessionRow>;
  session(ownerId: string, uploadId: string): Promise<SessionRow | undefined>;
  expireSession(uploadId: string, now: Date): Promise<void>;
  /** The saved whole-file hash state of a session: chunks [0, next) are in it. */
  sessionHash(uploadId: string): Promise<{ next: number; state: string | null } | undefined>;
  /** Compare-and-set of the hash state: stored only if the session is still at `from`. */
  advanceSessionHash(uploadId: string, from: number, to: number, state: string): Promise<boolean>;
}

export class DrizzleSessionRepository implements SessionRepository {
  constructor(readonly db: Db) {}

  async createSession(s: NewSession): Promise<SessionRow> {
    const [row] = await this.db.insert(uploadSessions).values(s).returning();
    if (!row) throw new Error('upload session was not created');
    return row;
  }

  async session(ownerId: string, uploadId: string): Promise<SessionRow | undefined> {
    const [s] = await this.db.select().from(uploadSessions).where(and(eq(uploadSessions.id, uploadId), eq(uploadSessions.ownerId, ownerId)));
    return s;
  }

  async expireSession(uploadId: string, now: Date): Promise<void> {
    await this.db.update(uploadSessions).set({ expiresAt: now }).where(eq(uploadSessions.id, uploadId));
  }

  async sessionHash(uploadId: string): Promise<{ next: number; state: string | null } | undefined> {
    const [s] = await this.db.select({ next: uploadSessions.hashNext, state: uploadSessions.hashState }).from(uploadSessions).where(eq(uploadSessions.id, uploadId));
    return s;
  }

  async advanceSessionHash(uploadId: string, from: number, to: number, state: string): Promise<boolean> {
    const rows = await this.db
      .update(uploadSessions)
      .set({ hashState: state, hashNext: to })
      .where(and(eq(uploadSessions.id, uploadId), eq(uploadSessions.hashNext, from), isNull(uploadSessions.committedAt)))
      .returning({ next: uploadSessions.hashNext });
    return rows.length > 0;
  }
}
