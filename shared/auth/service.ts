/**
 * Accounts and sessions: register, login, me, change password, and token authentication for
 * every API function. Passwords and hashes never leave this module (not in results, not in logs).
 */
import { randomBytes } from 'node:crypto';
import { eq, or, sql } from 'drizzle-orm';
import type { Db } from '../catalog/db.js';
import { uniqueViolation, withoutParams } from '../catalog/db.js';
import { users } from '../catalog/schema.js';
import { BadRequest, Conflict, Forbidden, Unauthorized } from '../errors.js';
import { validate, type Authenticator, type AuthUser, type DownloadLink, type LinkScope, type Role } from '../http.js';
import { logger } from '../observability.js';
import { NO_ADMIN_TOKEN, type AdminTokenCheck } from './admin-token.js';
import { DEFAULT_BCRYPT_COST, hashPassword, verifyPassword } from './password.js';
import {
  changePasswordSchema,
  loginSchema,
  registerSchema,
  type ChangePasswordInput,
  type LoginInput,
  type RegisterInput,
} from './schemas.js';
import { InvalidToken, type TokenService } from './tokens.js';
import type { LoginThrottle } from './throttle.js';

export interface AuthServiceDeps {
  db: Db;
  tokens: TokenService;
  bcryptCost?: number;
  /** Lower-case emails whose accounts may be administrators (they register as such, or claim the role). */
  adminEmails?: readonly string[];
  /**
   * The admin bootstrap token check (shared/auth/admin-token.ts). When it is required, an address
   * of the admin list can only be registered, or its account promoted, by presenting the token.
   * Default: none required.
   */
  adminToken?: AdminTokenCheck;
  /** Failed sign-in counting in the catalog (429 with Retry-After past the allowance). */
  throttle?: LoginThrottle;
  /**
   * How long (ms) a token holder's row (role, token version) read from the catalog is reused by
   * this process, counted from the start of the read; 0 (default) reads it for every request.
   * A change of the row (sign out, password change, admin role) is answered only after every such
   * lease that may predate it has run out, in every container, so it holds for every request that
   * starts after its answer.
   */
  holderCacheMs?: number;
  /** Clock (ms since the epoch) and sleep of the holder leases (tests pass fakes). */
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Most token holders one process keeps leases of; past it the leases are dropped. */
const HOLDER_CACHE_MAX = 10_000;

/** Where a sign-in comes from, for per-address throttling. */
export interface LoginContext {
  clientAddress?: string;
}

/** The admin bootstrap token a request presented (X-EchoFS-Admin-Token), if any. */
export interface AdminProof {
  adminToken?: string;
}

/** What register, login and a password change return. */
export interface AuthSession {
  token: string;
  user: AuthUser;
}

const BAD_CREDENTIALS = 'Invalid email or password.';
const BAD_TOKEN = 'Invalid or expired token: sign in again.';
const BAD_LINK = "Invalid or expired download link in 'link': ask for a new one (POST /api/v1/files/{id}/download-link).";
const FOREIGN_LINK = "The download link in 'link' is for another file or version.";
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type UserRow = typeof users.$inferSelect;

export class AuthService implements Authenticator {
  private readonly db: Db;
  private readonly tokens: TokenService;
  private readonly cost: number;
  private readonly adminEmails: Set<string>;
  private readonly adminToken: AdminTokenCheck;
  private dummyHash?: Promise<string>;
  private readonly throttle?: LoginThrottle;
  private readonly holderCacheMs: number;
  private readonly clock: () => number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Token holders' rows and when their read started (the lease; see holderCacheMs). */
  private readonly holders = new Map<string, { row: UserRow; readAt: number }>();

  constructor(deps: AuthServiceDeps) {
    this.db = deps.db;
    this.tokens = deps.tokens;
    this.cost = deps.bcryptCost ?? DEFAULT_BCRYPT_COST;
    this.adminEmails = new Set((deps.adminEmails ?? []).map((e) => e.toLowerCase()));
    this.adminToken = deps.adminToken ?? NO_ADMIN_TOKEN;
    this.throttle = deps.throttle;
    this.holderCacheMs = Math.max(0, deps.holderCacheMs ?? 0);
    this.clock = deps.clock ?? Date.now;
    this.sleep = deps.sleep ?? ((ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * A new account. An address of the admin list gets the admin role; where the admin token is
   * required, such an address can only be registered with the token (403 otherwise), so that no
   * stranger can take it first, as an administrator or as anything else.
   */
  async register(input: RegisterInput, proof: AdminProof = {}): Promise<AuthSession> {
    const { username, email, password } = validate(registerSchema, input);
    const clash = await this.db
      .select({ email: users.email, username: users.username })
      .from(users)
      .where(or(eq(users.email, email), eq(sql`lower(${users.username})`, username.toLowerCase())))
      .limit(2);
    if (clash.some((u) => u.email === email)) throw emailTaken();
    if (clash.length > 0) throw usernameTaken();

    const role: Role = this.adminEmails.has(email) ? 'admin' : 'user';
    if (role === 'admin') await this.adminToken.verify(proof.adminToken);
    const passwordHash = await hashPassword(password, this.cost);
    let row: UserRow | undefined;
    try {
      [row] = await this.db.insert(users).values({ username, email, passwordHash, role }).returning();
    } catch (err) {
      // A concurrent registration won the race between our check and the insert.
      const constraint = uniqueViolation(err);
      if (constraint === 'users_email_key') throw emailTaken();
      if (constraint === 'users_username_key') throw usernameTaken();
      throw withoutParams(err); // the parameters hold the password hash
    }
    if (!row) throw new Error('insert into users returned no row');
    logger.info('user registered', { userId: row.id, role });
    if (role === 'admin') logger.info('admin role granted', { userId: row.id, via: 'register', tokenChecked: this.adminToken.required });
    return this.session(row);
  }

  /**
   * The admin role for a signed-in account whose address is in the admin list, on presenting the
   * admin token where one is required (for an account registered before its address was listed,
   * or before the token check). Idempotent. Returns a fresh session carrying the role.
   */
  async claimAdmin(userId: string, proof: AdminProof = {}): Promise<AuthSession> {
    const row = await this.findById(userId);
    if (!row) throw new Unauthorized(BAD_TOKEN, 'invalid_token');
    if (!this.adminEmails.has(row.email)) {
      logger.warn('admin claim refused', { userId, reason: 'address not in the admin list' });
      throw new Forbidden(
        "This account's address is not in the administrators list (ECHOFS_ADMIN_EMAILS locally, echofs:adminEmails in the cloud).",
        'not_admin_address',
      );
    }
    await this.adminToken.verify(proof.adminToken);
    if (row.role === 'admin') return this.session(row);
    const [updated] = await this.db.update(users).set({ role: 'admin' }).where(eq(users.id, userId)).returning();
    if (!updated) throw new Unauthorized(BAD_TOKEN, 'invalid_token');
    await this.holderChanged(userId);
    logger.info('admin role granted', { userId, via: 'claim', tokenChecked: this.adminToken.required });
    return this.session(updated);
  }

  async login(input: LoginInput, context: LoginContext = {}): Promise<AuthSession> {
    const { email, password } = validate(loginSchema, input);
    const address = context.clientAddress;
    await this.throttle?.check(email, address);
    const [row] = await this.db.select().from(users).where(eq(users.email, email)).limit(1);
    if (!row) {
      // Spend the same time as a real check, so response time does not reveal which emails exist.
      await verifyPassword(password, await this.getDummyHash());
      await this.throttle?.failed(email, address);
      throw new Unauthorized(BAD_CREDENTIALS, 'invalid_credentials');
    }
    if (!(await verifyPassword(password, row.passwordHash))) {
      await this.throttle?.failed(email, address);
      throw new Unauthorized(BAD_CREDENTIALS, 'invalid_credentials');
    }
    await this.throttle?.succeeded(email);
    return this.session(row);
  }

  async me(userId: string): Promise<AuthUser> {
    const row = await this.findById(userId);
    if (!row) throw new Unauthorized(BAD_TOKEN, 'invalid_token');
    return publicUser(row);
  }

  /** Sets a new password and bumps the token version: every token issued before stops working. */
  async changePassword(userId: string, input: ChangePasswordInput): Promise<AuthSession> {
    const { current_password, new_password } = validate(changePasswordSchema, input);
    const row = await this.findById(userId);
    if (!row) throw new Unauthorized(BAD_TOKEN, 'invalid_token');
    if (!(await verifyPassword(current_password, row.passwordHash))) {
      throw new BadRequest('Current password is incorrect.', 'invalid_current_password', { field: 'current_password' });
    }
    const passwordHash = await hashPassword(new_password, this.cost);
    let updated: UserRow | undefined;
    try {
      [updated] = await this.db
        .update(users)
        .set({ passwordHash, tokenVersion: sql`${users.tokenVersion} + 1` })
        .where(eq(users.id, userId))
        .returning();
    } catch (err) {
      throw withoutParams(err); // the parameters hold the password hash
    }
    if (!updated) throw new Unauthorized(BAD_TOKEN, 'invalid_token');
    await this.holderChanged(userId);
    logger.info('password changed', { userId, tokenVersion: updated.tokenVersion });
    return this.session(updated);
  }

  /** Sign out everywhere: bumps the token version, so every token issued to this user stops working. */
  async logout(userId: string): Promise<void> {
    const [row] = await this.db
      .update(users)
      .set({ tokenVersion: sql`${users.tokenVersion} + 1` })
      .where(eq(users.id, userId))
      .returning({ tokenVersion: users.tokenVersion });
    if (!row) throw new Unauthorized(BAD_TOKEN, 'invalid_token');
    await this.holderChanged(userId);
    logger.info('signed out', { userId, tokenVersion: row.tokenVersion });
  }

  /** Authenticator: a valid, unexpired token of an existing user whose token version is current. */
  async authenticate(token: string): Promise<AuthUser> {
    const { row } = await this.currentHolder(() => this.tokens.verify(token), () => new Unauthorized(BAD_TOKEN, 'invalid_token'));
    return publicUser(row);
  }

  /** Authenticator: a download link for exactly this file and version, of a user whose token version is current. */
  async authenticateLink(token: string, scope: LinkScope): Promise<AuthUser> {
    const { claims, row } = await this.currentHolder(() => this.tokens.verifyLink(token), () => new Unauthorized(BAD_LINK, 'invalid_link'));
    const version = claims.ver === undefined ? undefined : String(claims.ver);
    if (claims.fid !== scope.fileId || version !== scope.version) throw new Forbidden(FOREIGN_LINK, 'link_mismatch');
    return publicUser(row);
  }

  /** A download link to one of the user's files, carrying the user's token version (signing out revokes it). */
  async signLink(user: AuthUser, fileId: string, version?: number): Promise<DownloadLink> {
    const row = await this.findById(user.id);
    if (!row) throw new Unauthorized(BAD_TOKEN, 'invalid_token');
    const { token, expiresAt } = await this.tokens.signLink({ sub: row.id, tv: row.tokenVersion, fid: fileId, ...(version !== undefined ? { ver: version } : {}) });
    return { token, expiresAt: new Date(expiresAt), expiresInSeconds: this.tokens.linkTtlSeconds };
  }

  /** A token's claims and its user, if the token verifies and was issued at the user's current token version. */
  private async currentHolder<C extends { sub: string; tv: number }>(verify: () => Promise<C>, refused: () => Unauthorized): Promise<{ claims: C; row: UserRow }> {
    let claims: C;
    try {
      claims = await verify();
    } catch (err) {
      if (err instanceof InvalidToken) throw refused();
      throw err;
    }
    const row = await this.holder(claims.sub);
    if (!row || row.tokenVersion !== claims.tv) throw refused();
    return { claims, row };
  }

  /** A token holder's row: this process's lease while it runs, else read (and leased). */
  private async holder(id: string): Promise<UserRow | undefined> {
    if (this.holderCacheMs <= 0) return this.findById(id);
    const startedAt = this.clock();
    const leased = this.holders.get(id);
    if (leased && startedAt - leased.readAt < this.holderCacheMs) return leased.row;
    const row = await this.findById(id);
    if (row) {
      if (this.holders.size >= HOLDER_CACHE_MAX) this.holders.clear();
      const current = this.holders.get(id);
      if (!current || current.readAt < startedAt) this.holders.set(id, { row, readAt: startedAt });
    }
    return row;
  }

  /**
   * After a change of a holder's row stored now: drop this process's lease, and wait until every
   * lease that may predate the change (in any container) has run out, with a margin for
   * clock-rate differences, before the change is answered.
   */
  private async holderChanged(id: string): Promise<void> {
    this.holders.delete(id);
    if (this.holderCacheMs <= 0) return;
    await this.sleep(this.holderCacheMs + Math.ceil(this.holderCacheMs / 100) + 5);
  }

  private async findById(id: string): Promise<UserRow | undefined> {
    if (!UUID_RE.test(id)) return undefined;
    const [row] = await this.db.select().from(users).where(eq(users.id, id)).limit(1);
    return row;
  }

  private async session(row: UserRow): Promise<AuthSession> {
    const token = await this.tokens.sign({ sub: row.id, role: row.role, tv: row.tokenVersion });
    return { token, user: publicUser(row) };
  }

  private getDummyHash(): Promise<string> {
    this.dummyHash ??= hashPassword(randomBytes(16).toString('hex'), this.cost);
    return this.dummyHash;
  }
}

/** Only the public fields of a user row: never the hash or the token version. */
export function publicUser(row: Pick<UserRow, 'id' | 'username' | 'email' | 'role'>): AuthUser {
  return { id: row.id, username: row.username, email: row.email, role: row.role };
}

function emailTaken(): Conflict {
  return new Conflict('An account with this email already exists.', 'email_taken');
}

function usernameTaken(): Conflict {
  return new Conflict('This username is taken.', 'username_taken');
}
