/**
 * The admin bootstrap token: the proof that whoever takes an address of the admin list
 * (ECHOFS_ADMIN_EMAILS) as an administrator is the operator who deployed or started EchoFS, and
 * not the first stranger to register that address on a public API.
 *
 * Where the token comes from:
 * - ECHOFS_ADMIN_TOKEN: that value (meant for the local runtime; accepted in the cloud too).
 * - ECHOFS_ADMIN_TOKEN_ARN: a Secrets Manager secret that the deploy generates. It is read on each
 *   check, never cached: becoming an admin is rare, and a rotated token then holds at once in every
 *   container.
 * - neither, in the cloud: the token is required and there is none, so nobody becomes an
 *   administrator (fail closed), and the log says why.
 * - neither, locally: no token is required; the admin list alone decides, as it always has.
 *
 * The token is compared in constant time and never appears in a response or a log line.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config.js';
import { Forbidden, Unavailable } from '../errors.js';
import { logger } from '../observability.js';
import { readSecretsManager, type SecretReader } from './secret.js';

/** The request header that carries the token (lower case, as handlers see header names). */
export const ADMIN_TOKEN_HEADER = 'x-echofs-admin-token';
/** The same header as documented and sent by clients. */
export const ADMIN_TOKEN_HEADER_NAME = 'X-EchoFS-Admin-Token';

export interface AdminTokenCheck {
  /** Whether becoming an administrator needs the token. */
  readonly required: boolean;
  /**
   * Resolves when `presented` is the token (or none is required); otherwise throws Forbidden (no
   * token, a wrong one, none configured) or Unavailable (the secret could not be read).
   */
  verify(presented: string | undefined): Promise<void>;
}

/** No token: the admin list alone decides (the local runtime without ECHOFS_ADMIN_TOKEN). */
export const NO_ADMIN_TOKEN: AdminTokenCheck = { required: false, verify: async () => undefined };

/** Where to read the expected token from; undefined when none is configured. */
export type AdminTokenSource = () => Promise<string | undefined>;

export function adminTokenRequired(): Forbidden {
  return new Forbidden(
    `Becoming an administrator needs the admin token: send it in the ${ADMIN_TOKEN_HEADER_NAME} header (the README's "Administrators" section says where to find it).`,
    'admin_token_required',
  );
}

/** A check against the token that `source` gives; `required` is always true. */
export function adminTokenCheck(source: AdminTokenSource): AdminTokenCheck {
  return {
    required: true,
    async verify(presented) {
      const given = presented?.trim() ?? '';
      if (given === '') {
        logger.warn('admin token refused', { reason: 'missing' });
        throw adminTokenRequired();
      }
      let expected: string | undefined;
      try {
        expected = (await source())?.trim();
      } catch (err) {
        // The SDK's error names the secret, never its value.
        logger.error('admin token could not be read', { error: err instanceof Error ? err : new Error(String(err)) });
        throw new Unavailable('The admin token could not be checked just now; retry shortly.', 5, 'admin_token_unavailable');
      }
      if (!expected) {
        logger.error('admin token refused', { reason: 'no admin token is configured (ECHOFS_ADMIN_TOKEN_ARN or ECHOFS_ADMIN_TOKEN)' });
        throw new Forbidden('No admin token is configured for this deployment, so no account can become an administrator.', 'admin_token_not_configured');
      }
      if (!sameSecret(given, expected)) {
        logger.warn('admin token refused', { reason: 'mismatch' });
        throw new Forbidden('The admin token is not valid.', 'admin_token_invalid');
      }
    },
  };
}

/** The check this configuration asks for (see the module comment). */
export function adminTokenFromConfig(
  config: Pick<Config, 'stage' | 'adminToken' | 'adminTokenArn'>,
  readSecret: SecretReader = readSecretsManager,
): AdminTokenCheck {
  const { adminToken, adminTokenArn } = config;
  if (adminToken) return adminTokenCheck(async () => adminToken);
  if (adminTokenArn) return adminTokenCheck(() => readSecret(adminTokenArn));
  if (config.stage === 'cloud') return adminTokenCheck(async () => undefined);
  return NO_ADMIN_TOKEN;
}

/**
 * Constant-time equality of two secrets of any length: both are hashed first, so neither the time
 * taken nor an early length check tells how much of a guess was right.
 */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a, 'utf8').digest();
  const hb = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(ha, hb);
}
