/**
 * Password hashing with bcrypt (bcryptjs: pure JavaScript, so it bundles into a Lambda without
 * native builds). bcrypt only reads the first 72 bytes of a password, so longer ones are refused
 * up front instead of being silently truncated.
 */
import bcrypt from 'bcryptjs';

export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_BYTES = 72;
export const DEFAULT_BCRYPT_COST = 10;

export function passwordTooLong(password: string): boolean {
  return Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES;
}

export async function hashPassword(password: string, cost: number = DEFAULT_BCRYPT_COST): Promise<string> {
  if (passwordTooLong(password)) throw new RangeError(`passwords are limited to ${MAX_PASSWORD_BYTES} bytes`);
  return bcrypt.hash(password, cost);
}

/** True when the password matches the hash. A password bcrypt would truncate never matches. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (passwordTooLong(password)) return false;
  return bcrypt.compare(password, hash);
}
