/**
 * Session tokens: JWT signed with HS256 (jose). Claims: sub = user id, role, tv = the user's token
 * version (bumped on password change, so older tokens stop working), iat/exp (24 h), iss/aud.
 * Verification accepts HS256 only, so unsigned ("alg": "none") and other-algorithm tokens fail.
 *
 * Download links: JWT with the same key, `purpose: 'download'`, scoped to one user's file (fid,
 * and ver when a version was asked for), carrying tv like a session, expiring in 60 s. A session
 * token is never accepted as a link (no purpose), nor a link as a session (it has one).
 *
 * A token's signature is checked once per container: the payloads of tokens that verified are kept
 * (at most VERIFIED_CACHE_SIZE, oldest first out) and a later call with the same token only checks
 * that it has not expired since. Everything else jose checks (algorithm, issuer, audience, required
 * claims) is a property of the token's bytes, so it holds for the same string.
 */
import { SignJWT, jwtVerify } from 'jose';
import type { Role } from '../http.js';

export const TOKEN_TTL_SECONDS = 24 * 3600;
/** How long a download link stays good: long enough for the browser to start the download. */
export const LINK_TTL_SECONDS = 60;
const LINK_PURPOSE = 'download';
const ALG = 'HS256';
const ISSUER = 'echofs';
const AUDIENCE = 'echofs-api';
/** How many verified tokens one TokenService remembers. */
const VERIFIED_CACHE_SIZE = 2048;

export interface TokenClaims {
  sub: string;
  role: Role;
  tv: number;
}

/** What a download link grants: one file of one user, at one version when `ver` is set. */
export interface LinkClaims {
  sub: string;
  tv: number;
  fid: string;
  ver?: number;
}

export interface TokenServiceOptions {
  ttlSeconds?: number;
  linkTtlSeconds?: number;
  /** Milliseconds since the epoch (tests pass a fake clock). */
  now?: () => number;
}

export class InvalidToken extends Error {
  constructor(reason: string) {
    super(`invalid token: ${reason}`);
    this.name = 'InvalidToken';
  }
}

export class TokenService {
  private readonly key: Uint8Array<ArrayBuffer>;
  /** The key imported once for WebCrypto's HMAC (jose imports a raw key on every call otherwise). */
  private cryptoKey: Promise<CryptoKey> | undefined;
  private readonly verified = new Map<string, Record<string, unknown> & { exp: number }>();
  private readonly ttlSeconds: number;
  readonly linkTtlSeconds: number;
  private readonly now: () => number;

  constructor(secret: string | Uint8Array, opts: TokenServiceOptions = {}) {
    this.key = typeof secret === 'string' ? new TextEncoder().encode(secret) : Uint8Array.from(secret);
    if (this.key.length < 32) throw new RangeError('the JWT secret must be at least 32 bytes');
    this.ttlSeconds = opts.ttlSeconds ?? TOKEN_TTL_SECONDS;
    this.linkTtlSeconds = opts.linkTtlSeconds ?? LINK_TTL_SECONDS;
    this.now = opts.now ?? Date.now;
  }

  async sign(claims: TokenClaims): Promise<string> {
    const iat = Math.floor(this.now() / 1000);
    return new SignJWT({ role: claims.role, tv: claims.tv })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.ttlSeconds)
      .sign(await this.hmacKey());
  }

  /** A download link token and when it expires (milliseconds since the epoch). */
  async signLink(claims: LinkClaims): Promise<{ token: string; expiresAt: number }> {
    const iat = Math.floor(this.now() / 1000);
    const exp = iat + this.linkTtlSeconds;
    const token = await new SignJWT({ purpose: LINK_PURPOSE, tv: claims.tv, fid: claims.fid, ...(claims.ver !== undefined ? { ver: claims.ver } : {}) })
      .setProtectedHeader({ alg: ALG, typ: 'JWT' })
      .setSubject(claims.sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(await this.hmacKey());
    return { token, expiresAt: exp * 1000 };
  }

  /** The claims of a valid, unexpired session token signed with this key; throws InvalidToken otherwise. */
  async verify(token: string): Promise<TokenClaims> {
    const payload = await this.payload(token);
    if (payload.purpose !== undefined) throw new InvalidToken('not a session token');
    const { sub, role, tv } = payload;
    if (typeof sub !== 'string' || sub === '') throw new InvalidToken('missing subject');
    if (role !== 'user' && role !== 'admin') throw new InvalidToken('bad role claim');
    if (typeof tv !== 'number' || !Number.isInteger(tv) || tv < 0) throw new InvalidToken('bad token version claim');
    return { sub, role, tv };
  }

  /** The claims of a valid, unexpired download link signed with this key; throws InvalidToken otherwise. */
  async verifyLink(token: string): Promise<LinkClaims> {
    const payload = await this.payload(token);
    if (payload.purpose !== LINK_PURPOSE) throw new InvalidToken('not a download link');
    const { sub, tv, fid, ver } = payload;
    if (typeof sub !== 'string' || sub === '') throw new InvalidToken('missing subject');
    if (typeof tv !== 'number' || !Number.isInteger(tv) || tv < 0) throw new InvalidToken('bad token version claim');
    if (typeof fid !== 'string' || fid === '') throw new InvalidToken('missing file claim');
    if (ver !== undefined && (typeof ver !== 'number' || !Number.isInteger(ver) || ver < 1)) throw new InvalidToken('bad version claim');
    return { sub, tv, fid, ...(ver !== undefined ? { ver } : {}) };
  }

  private hmacKey(): Promise<CryptoKey> {
    this.cryptoKey ??= crypto.subtle.importKey('raw', this.key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    return this.cryptoKey;
  }

  private async payload(token: string): Promise<Record<string, unknown>> {
    const nowSeconds = Math.floor(this.now() / 1000);
    const known = this.verified.get(token);
    if (known) {
      // jose's rule: a token is expired once exp <= now (no clock tolerance).
      if (known.exp > nowSeconds) return known;
      this.verified.delete(token);
      throw new InvalidToken('ERR_JWT_EXPIRED');
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, await this.hmacKey(), {
        algorithms: [ALG],
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (err) {
      throw new InvalidToken((err as { code?: string }).code ?? 'verification failed');
    }
    const { exp } = payload;
    if (typeof exp === 'number') {
      if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(token, { ...payload, exp });
    }
    return payload;
  }
}
