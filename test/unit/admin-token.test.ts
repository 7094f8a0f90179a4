/**
 * The admin bootstrap token check on its own: which configuration asks for a token, constant-time
 * comparison of secrets of any length, fail-closed in the cloud without a token, and a secret
 * that is read on every check (no cache) and whose read failure is a 503, not a 500.
 */
import { describe, expect, it } from 'vitest';
import { adminTokenFromConfig, sameSecret } from '#shared/auth/admin-token.js';
import { loadConfig, ConfigError } from '#shared/config.js';
import { Forbidden, Unavailable } from '#shared/errors.js';

const TOKEN = 'a-good-admin-token-123456';

describe('sameSecret', () => {
  it('is true for equal strings only, whatever the lengths', () => {
    expect(sameSecret(TOKEN, TOKEN)).toBe(true);
    expect(sameSecret(TOKEN, TOKEN + 'x')).toBe(false);
    expect(sameSecret(TOKEN, TOKEN.slice(0, -1))).toBe(false);
    expect(sameSecret('', TOKEN)).toBe(false);
    expect(sameSecret('é', 'e')).toBe(false);
  });
});

describe('adminTokenFromConfig', () => {
  it('locally without ECHOFS_ADMIN_TOKEN: no token is required, anything passes', async () => {
    const check = adminTokenFromConfig({ stage: 'local' });
    expect(check.required).toBe(false);
    await expect(check.verify(undefined)).resolves.toBeUndefined();
  });

  it('with ECHOFS_ADMIN_TOKEN: required; missing, wrong and right tokens', async () => {
    const check = adminTokenFromConfig({ stage: 'local', adminToken: TOKEN });
    expect(check.required).toBe(true);
    await expect(check.verify(undefined)).rejects.toMatchObject({ status: 403, code: 'admin_token_required' });
    await expect(check.verify('   ')).rejects.toMatchObject({ status: 403, code: 'admin_token_required' });
    await expect(check.verify('nope')).rejects.toMatchObject({ status: 403, code: 'admin_token_invalid' });
    await expect(check.verify(TOKEN)).resolves.toBeUndefined();
  });

  it('the messages of a refusal never hold the token', async () => {
    const check = adminTokenFromConfig({ stage: 'local', adminToken: TOKEN });
    for (const given of [undefined, 'nope', TOKEN.slice(0, 10)]) {
      const err = await check.verify(given).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Forbidden);
      expect(JSON.stringify({ message: (err as Error).message, ...(err as object) })).not.toContain(TOKEN.slice(0, 10));
    }
  });

  it('in the cloud without any token configured: required, and nobody passes (fail closed)', async () => {
    const check = adminTokenFromConfig({ stage: 'cloud' });
    expect(check.required).toBe(true);
    await expect(check.verify(TOKEN)).rejects.toMatchObject({ status: 403, code: 'admin_token_not_configured' });
  });

  it('with ECHOFS_ADMIN_TOKEN_ARN: reads the secret on every check (a new value holds at once)', async () => {
    let value = TOKEN;
    const asked: string[] = [];
    const check = adminTokenFromConfig({ stage: 'cloud', adminTokenArn: 'arn:x' }, async (arn) => {
      asked.push(arn);
      return value + '\n';
    });
    await expect(check.verify(undefined)).rejects.toMatchObject({ code: 'admin_token_required' });
    expect(asked, 'no read for a request without a token').toEqual([]);
    await expect(check.verify(TOKEN)).resolves.toBeUndefined();
    value = 'another-token-7890123456';
    await expect(check.verify(TOKEN)).rejects.toMatchObject({ code: 'admin_token_invalid' });
    await expect(check.verify(value)).resolves.toBeUndefined();
    expect(asked).toEqual(['arn:x', 'arn:x', 'arn:x']);
  });

  it('a secret that cannot be read is a 503 with Retry-After; an empty one refuses everybody', async () => {
    const failing = adminTokenFromConfig({ stage: 'cloud', adminTokenArn: 'arn:x' }, async () => {
      throw new Error('AccessDeniedException');
    });
    const err = await failing.verify(TOKEN).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Unavailable);
    expect((err as Unavailable).headers['Retry-After']).toBeDefined();
    expect((err as Error).message).not.toMatch(/AccessDenied/);
    const empty = adminTokenFromConfig({ stage: 'cloud', adminTokenArn: 'arn:x' }, async () => '  ');
    await expect(empty.verify(TOKEN)).rejects.toMatchObject({ status: 403, code: 'admin_token_not_configured' });
  });
});

describe('ECHOFS_ADMIN_TOKEN and ECHOFS_ADMIN_TOKEN_ARN in the config', () => {
  it('are read (the token trimmed) and unset when empty', () => {
    expect(loadConfig({ ECHOFS_ADMIN_TOKEN: ` ${TOKEN}\n`, ECHOFS_ADMIN_TOKEN_ARN: 'arn:aws:secretsmanager:x' })).toMatchObject({
      adminToken: TOKEN,
      adminTokenArn: 'arn:aws:secretsmanager:x',
    });
    const c = loadConfig({ ECHOFS_ADMIN_TOKEN: '', ECHOFS_ADMIN_TOKEN_ARN: '' });
    expect(c.adminToken).toBeUndefined();
    expect(c.adminTokenArn).toBeUndefined();
  });

  it('refuse a short or spaced token, with a message that does not repeat it', () => {
    for (const bad of ['short-token', 'has a space in the middle of it']) {
      let problems: string[] = [];
      try {
        loadConfig({ ECHOFS_ADMIN_TOKEN: bad });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        problems = (err as ConfigError).problems;
      }
      expect(problems).toEqual(['ECHOFS_ADMIN_TOKEN must be 16 to 512 printable ASCII characters without spaces']);
    }
  });
});
