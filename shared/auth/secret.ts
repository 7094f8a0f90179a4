/**
 * Where the JWT signing secret comes from: JWT_SECRET when set; in the cloud, Secrets Manager
 * (JWT_SECRET_ARN); locally, a random secret generated once and kept at <dataDir>/jwt-secret
 * (mode 0600), so tokens survive a restart.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.js';

export const JWT_SECRET_FILE = 'jwt-secret';
const MIN_SECRET_LENGTH = 32;

/** Reads a secret string by ARN (Secrets Manager in the cloud; injectable for tests). */
export type SecretReader = (arn: string) => Promise<string>;

export async function resolveJwtSecret(
  config: Pick<Config, 'jwtSecret' | 'jwtSecretArn' | 'stage' | 'dataDir'>,
  readSecret: SecretReader = readSecretsManager,
): Promise<string> {
  if (config.jwtSecret) return config.jwtSecret;
  if (config.jwtSecretArn) return checked(secretFromString(await readSecret(config.jwtSecretArn)), 'the secret at JWT_SECRET_ARN');
  if (config.stage === 'cloud') throw new Error('No JWT secret configured: set JWT_SECRET_ARN (or JWT_SECRET)');
  return localSecret(config.dataDir);
}

/**
 * The secret kept under the data dir, created on first use. Two processes starting at once agree:
 * each writes its candidate to a file of its own and links it into place, which fails if the file
 * exists, so the file appears whole (never empty or half-written) and the loser reads the winner's.
 */
export async function localSecret(dataDir: string): Promise<string> {
  const file = join(dataDir, JWT_SECRET_FILE);
  const existing = await readIfExists(file);
  if (existing !== undefined) return checked(existing, file);
  await mkdir(dataDir, { recursive: true });
  const fresh = randomBytes(48).toString('base64url');
  const candidate = `${file}.${process.pid}.${randomBytes(6).toString('hex')}`;
  await writeFile(candidate, fresh + '\n', { mode: 0o600, flag: 'wx' });
  try {
    await link(candidate, file);
    return fresh;
  } catch (err) {
    // Another process put its secret in place between our read and the link: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return checked((await readIfExists(file)) ?? '', file);
    throw err;
  } finally {
    await rm(candidate, { force: true });
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A plain secret string, or a JSON secret with a `secret` (or `jwtSecret`) field. */
function secretFromString(s: string): string {
  const t = s.trim();
  if (t.startsWith('{')) {
    try {
      const o = JSON.parse(t) as Record<string, unknown>;
      const v = o.secret ?? o.jwtSecret;
      if (typeof v === 'string') return v;
    } catch {
      /* not JSON: use as is */
    }
  }
  return t;
}

function checked(secret: string, source: string): string {
  if (secret.length < MIN_SECRET_LENGTH) throw new Error(`The JWT secret in ${source} must be at least ${MIN_SECRET_LENGTH} characters`);
  return secret;
}

/** GetSecretValue by ARN: the secret's string (never logged). */
export async function readSecretsManager(arn: string): Promise<string> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({});
  try {
    const out = await client.send(new GetSecretValueCommand({ SecretId: arn }));
    if (!out.SecretString) throw new Error(`Secret ${arn} has no string value`);
    return out.SecretString;
  } finally {
    client.destroy();
  }
}
