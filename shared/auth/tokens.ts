/**
 * Session tokens: JWT signed with HS256 (jose). Claims: sub = user id, role, tv = the user's token
 * version (bumped on password change, so older tokens stop working), iat/exp (24 h), iss/aud.
 * Verification accepts HS256 only, so unsigned ("alg": "none") and other-algorithm tokens fail.
 */
import { SignJWT, jwtVerify } from 'jose';
import type { Role } from '../http.js';

export const TOKEN_TTL_SECONDS = 24 * 3600;
const ALG = 'HS256';
const ISSUER = 'echofs';
const AUDIENCE = 'echofs-api';

export interface TokenClaims {
  sub: string;
  role: Role;
  tv: number;
}

export interface TokenServiceOptions {
  ttlSeconds?: number;
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
  private readonly key: Uint8Array;
  private readonly ttlSeconds: number;
  private readonly now: () => number;

  constructor(secret: string | Uint8Array, opts: TokenServiceOptions = {}) {
    this.key = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret;
    if (this.key.length < 32) throw new RangeError('the JWT secret must be at least 32 bytes');
    this.ttlSeconds = opts.ttlSeconds ?? TOKEN_TTL_SECONDS;
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
      .sign(this.key);
  }

  /** The claims of a valid, unexpired token signed with this key; throws InvalidToken otherwise. */
  async verify(token: string): Promise<TokenClaims> {
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.key, {
        algorithms: [ALG],
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: new Date(this.now()),
        requiredClaims: ['sub', 'exp', 'iat'],
      }));
    } catch (err) {
      throw new InvalidToken((err as { code?: string }).code ?? 'verification failed');
    }
    const { sub, role, tv } = payload;
    if (typeof sub !== 'string' || sub === '') throw new InvalidToken('missing subject');
    if (role !== 'user' && role !== 'admin') throw new InvalidToken('bad role claim');
    if (typeof tv !== 'number' || !Number.isInteger(tv) || tv < 0) throw new InvalidToken('bad token version claim');
    return { sub, role, tv };
  }
}
