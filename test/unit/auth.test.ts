import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '#shared/auth/password.js';
import { changePasswordSchema, loginSchema, registerSchema } from '#shared/auth/schemas.js';
import { JWT_SECRET_FILE, localSecret, resolveJwtSecret } from '#shared/auth/secret.js';
import { InvalidToken, TOKEN_TTL_SECONDS, TokenService } from '#shared/auth/tokens.js';

const SECRET = 'k'.repeat(48);
const T0 = Date.UTC(2030, 0, 1);
const claims = { sub: '6f1c3a52-94b1-4c55-9d0e-2b3f1f7f9a10', role: 'user' as const, tv: 3 };
const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

async function expectInvalid(p: Promise<unknown>): Promise<void> {
  await expect(p).rejects.toBeInstanceOf(InvalidToken);
}

describe('TokenService', () => {
  const tokens = new TokenService(SECRET, { now: () => T0 });

  it('round-trips subject, role and token version', async () => {
    const t = await tokens.sign(claims);
    expect(await tokens.verify(t)).toEqual(claims);
  });

  it('signs HS256 tokens that expire after 24 hours', async () => {
    const t = await tokens.sign(claims);
    const [header, payload] = t.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
    expect(header?.alg).toBe('HS256');
    expect(payload?.exp).toBe(T0 / 1000 + 24 * 3600);
    expect(TOKEN_TTL_SECONDS).toBe(86400);
  });

  it('accepts a token just before expiry and rejects it just after', async () => {
    const t = await tokens.sign(claims);
    const before = new TokenService(SECRET, { now: () => T0 + (TOKEN_TTL_SECONDS - 1) * 1000 });
    const after = new TokenService(SECRET, { now: () => T0 + (TOKEN_TTL_SECONDS + 1) * 1000 });
    expect((await before.verify(t)).sub).toBe(claims.sub);
    await expectInvalid(after.verify(t));
  });

  it('remembers a verified token but still rejects it from the second it expires, as jose does', async () => {
    let now = T0;
    const clocked = new TokenService(SECRET, { now: () => now });
    const t = await clocked.sign(claims);
    expect(await clocked.verify(t)).toEqual(claims);
    now = T0 + (TOKEN_TTL_SECONDS - 1) * 1000;
    expect(await clocked.verify(t)).toEqual(claims);
    now = T0 + TOKEN_TTL_SECONDS * 1000;
    // A service that never saw the token draws the same line at exp.
    await expectInvalid(new TokenService(SECRET, { now: () => now }).verify(t));
    await expectInvalid(clocked.verify(t));
    await expectInvalid(clocked.verify(t));
  });

  it('checks every other token string afresh once one is remembered (tampered signature, link as session)', async () => {
    const t = await tokens.sign(claims);
    expect(await tokens.verify(t)).toEqual(claims);
    const [h, p, sig] = t.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'AB' : 'AA'}`;
    await expectInvalid(tokens.verify(flipped));
    await expectInvalid(tokens.verifyLink(t));
    const { token: link } = await tokens.signLink({ sub: claims.sub, tv: 3, fid: 'f1' });
    expect((await tokens.verifyLink(link)).fid).toBe('f1');
    await expectInvalid(tokens.verify(link));
  });

  it('rejects a forged payload under the original signature', async () => {
    const [h, , s] = (await tokens.sign(claims)).split('.');
    const forged = `${h}.${enc({ sub: claims.sub, role: 'admin', tv: 3, iss: 'echofs', aud: 'echofs-api', iat: T0 / 1000, exp: T0 / 1000 + 3600 })}.${s}`;
    await expectInvalid(tokens.verify(forged));
  });

  it('rejects an unsigned alg-none token', async () => {
    const unsigned = new UnsecuredJWT({ role: 'admin', tv: 3 })
      .setSubject(claims.sub)
      .setIssuer('echofs')
      .setAudience('echofs-api')
      .setIssuedAt(T0 / 1000)
      .setExpirationTime(T0 / 1000 + 3600)
      .encode();
    expect(unsigned.endsWith('.')).toBe(true);
    await expectInvalid(tokens.verify(unsigned));
    // …and one whose header claims "none" but carries the real signature.
    const [, p, s] = (await tokens.sign(claims)).split('.');
    await expectInvalid(tokens.verify(`${enc({ alg: 'none', typ: 'JWT' })}.${p}.${s}`));
  });

  it('rejects a token signed with another key', async () => {
    const other = new TokenService('z'.repeat(48), { now: () => T0 });
    await expectInvalid(tokens.verify(await other.sign(claims)));
  });

  it('rejects a token signed with the right key but another algorithm', async () => {
    const t = await new SignJWT({ role: 'user', tv: 3 })
      .setProtectedHeader({ alg: 'HS512' })
      .setSubject(claims.sub)
      .setIssuer('echofs')
      .setAudience('echofs-api')
      .setIssuedAt(T0 / 1000)
      .setExpirationTime(T0 / 1000 + 3600)
      .sign(new TextEncoder().encode(SECRET));
    await expectInvalid(tokens.verify(t));
  });

  it('rejects a correctly signed token without a token version or with a bad role', async () => {
    const key = new TextEncoder().encode(SECRET);
    const base = (payload: Record<string, unknown>) =>
      new SignJWT(payload)
        .setProtectedHeader({ alg: 'HS256' })
        .setSubject(claims.sub)
        .setIssuer('echofs')
        .setAudience('echofs-api')
        .setIssuedAt(T0 / 1000)
        .setExpirationTime(T0 / 1000 + 3600)
        .sign(key);
    await expectInvalid(tokens.verify(await base({ role: 'user' })));
    await expectInvalid(tokens.verify(await base({ role: 'root', tv: 0 })));
    await expectInvalid(tokens.verify(await base({ role: 'user', tv: '0' })));
  });

  it('rejects garbage', async () => {
    await expectInvalid(tokens.verify('not-a-token'));
    await expectInvalid(tokens.verify(''));
  });

  it('signs download links for 60 s with their own purpose: never accepted as a session, nor a session as a link', async () => {
    const link = { sub: claims.sub, tv: claims.tv, fid: 'f1', ver: 3 };
    const { token, expiresAt } = await tokens.signLink(link);
    expect(expiresAt).toBe(T0 + 60_000);
    expect(await tokens.verifyLink(token)).toEqual(link);
    await expectInvalid(tokens.verify(token));
    await expectInvalid(tokens.verifyLink(await tokens.sign(claims)));
    const after = new TokenService(SECRET, { now: () => T0 + 61_000 });
    await expectInvalid(after.verifyLink(token));
    const { token: unversioned } = await tokens.signLink({ sub: claims.sub, tv: 0, fid: 'f2' });
    expect(await tokens.verifyLink(unversioned)).toEqual({ sub: claims.sub, tv: 0, fid: 'f2' });
  });

  it('refuses a secret shorter than 32 bytes', () => {
    expect(() => new TokenService('short')).toThrow(/at least 32 bytes/);
  });
});

describe('password hashing', () => {
  it('verifies the right password and rejects a wrong one, at the configured cost', async () => {
    const hash = await hashPassword('correct horse', 4);
    expect(hash).toMatch(/^\$2[aby]\$04\$/);
    expect(hash).not.toContain('correct horse');
    expect(await verifyPassword('correct horse', hash)).toBe(true);
    expect(await verifyPassword('correct horsf', hash)).toBe(false);
  });

  it('never matches a password longer than 72 bytes (bcrypt would truncate it)', async () => {
    const long = 'a'.repeat(72);
    const hash = await hashPassword(long, 4);
    expect(await verifyPassword(long + 'extra', hash)).toBe(false);
    await expect(hashPassword('a'.repeat(73), 4)).rejects.toThrow(/72 bytes/);
  });
});

describe('auth input rules', () => {
  it('lower-cases and trims emails', () => {
    expect(registerSchema.parse({ username: 'ann', email: ' Ann@Example.COM ', password: 'password1' }).email).toBe('ann@example.com');
    expect(loginSchema.parse({ email: 'ANN@example.com', password: 'x' }).email).toBe('ann@example.com');
  });

  it('names the username rule', () => {
    const r = registerSchema.safeParse({ username: 'a b', email: 'a@b.c', password: 'password1' });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['username']);
    expect(r.error?.issues[0]?.message).toMatch(/3-32 characters: letters, digits/);
  });

  it('wants 8 characters and at most 72 bytes of password', () => {
    expect(changePasswordSchema.safeParse({ current_password: 'x', new_password: '1234567' }).error?.issues[0]?.message).toMatch(/at least 8/);
    expect(changePasswordSchema.safeParse({ current_password: 'x', new_password: 'é'.repeat(37) }).error?.issues[0]?.message).toMatch(/at most 72 bytes/);
    expect(changePasswordSchema.safeParse({ current_password: 'x', new_password: 'é'.repeat(36) }).success).toBe(true);
  });
});

describe('resolveJwtSecret', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'echofs-secret-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const local = (dataDir: string) => ({ stage: 'local' as const, dataDir, jwtSecret: undefined, jwtSecretArn: undefined });
  const noReader = async (): Promise<string> => {
    throw new Error('Secrets Manager must not be called');
  };

  it('uses JWT_SECRET when set', async () => {
    expect(await resolveJwtSecret({ ...local(dir), jwtSecret: SECRET }, noReader)).toBe(SECRET);
  });

  it('generates a local secret once, keeps it at mode 0600 and returns the same one after a restart', async () => {
    const d = join(dir, 'fresh');
    const first = await resolveJwtSecret(local(d), noReader);
    expect(first).toMatch(/^[A-Za-z0-9_-]{64}$/); // 48 random bytes, base64url
    const st = await stat(join(d, JWT_SECRET_FILE));
    expect(st.mode & 0o777).toBe(0o600);
    expect(await resolveJwtSecret(local(d), noReader)).toBe(first);
  });

  it('agrees on one secret when several starts create it at once, and never reads a half-written file', async () => {
    // The file appears whole (linked into place), so a start that loses the race reads the
    // winner's full secret; a file created empty and written afterwards failed here under load.
    for (let round = 0; round < 20; round++) {
      const d = join(dir, `race-${round}`);
      const secrets = await Promise.all(Array.from({ length: 8 }, () => localSecret(d)));
      expect(new Set(secrets).size, `round ${round}: ${secrets.join(', ')}`).toBe(1);
      expect((await readFile(join(d, JWT_SECRET_FILE), 'utf8')).trim()).toBe(secrets[0]);
      expect(await readdir(d), 'no candidate file is left beside the secret').toEqual([JWT_SECRET_FILE]);
    }
  });

  it('refuses a kept secret that is too short', async () => {
    const d = join(dir, 'short');
    await localSecret(d);
    await writeFile(join(d, JWT_SECRET_FILE), 'tiny');
    await expect(resolveJwtSecret(local(d), noReader)).rejects.toThrow(/at least 32 characters/);
  });

  it('reads the secret from Secrets Manager by ARN, plain or as JSON', async () => {
    const arn = 'arn:aws:secretsmanager:us-east-1:1:secret:jwt';
    const cloud = { stage: 'cloud' as const, dataDir: dir, jwtSecret: undefined, jwtSecretArn: arn };
    expect(await resolveJwtSecret(cloud, async (a) => (a === arn ? SECRET : ''))).toBe(SECRET);
    expect(await resolveJwtSecret(cloud, async () => JSON.stringify({ secret: SECRET }))).toBe(SECRET);
  });

  it('fails clearly in the cloud without JWT_SECRET or JWT_SECRET_ARN', async () => {
    await expect(resolveJwtSecret({ stage: 'cloud', dataDir: dir, jwtSecret: undefined, jwtSecretArn: undefined }, noReader)).rejects.toThrow(
      /JWT_SECRET_ARN/,
    );
  });
});
