import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_REGIONS, loadConfig } from '#shared/config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be rejected`);
}

describe('loadConfig', () => {
  it('gives local defaults when nothing is set', () => {
    const c = loadConfig({});
    expect(c.stage).toBe('local');
    expect(c.port).toBe(8080);
    expect(c.dataDir).toBe('.echofs');
    expect(c.databaseUrl).toBeUndefined();
    expect(c.jwtSecret).toBeUndefined();
    expect(c.regions).toEqual(DEFAULT_REGIONS);
    expect(c.regions).toEqual(['us-east-1', 'eu-west-1', 'ap-southeast-1']);
    expect(c.adminEmails).toEqual([]);
    expect(c.bcryptCost).toBe(10);
    expect(c.mode).toBe('C');
    expect(c.dataApi).toBeUndefined();
    expect(c.buckets).toEqual({ 'us-east-1': 'echofs-us-east-1', 'eu-west-1': 'echofs-eu-west-1', 'ap-southeast-1': 'echofs-ap-southeast-1' });
  });

  it('reads every documented variable', () => {
    const c = loadConfig({
      PORT: '9090',
      ECHOFS_DATA_DIR: '/tmp/x',
      DATABASE_URL: 'postgres://u@h:5432/db',
      JWT_SECRET: 'x'.repeat(32),
      ECHOFS_REGIONS: 'us-east-1, eu-west-1',
      ECHOFS_ADMIN_EMAILS: 'Boss@Example.com, ops@example.com',
      BCRYPT_COST: '4',
      ECHOFS_MODE: 'available',
    });
    expect(c.port).toBe(9090);
    expect(c.dataDir).toBe('/tmp/x');
    expect(c.databaseUrl).toBe('postgres://u@h:5432/db');
    expect(c.jwtSecret).toBe('x'.repeat(32));
    expect(c.regions).toEqual(['us-east-1', 'eu-west-1']);
    expect(c.adminEmails).toEqual(['boss@example.com', 'ops@example.com']);
    expect(c.bcryptCost).toBe(4);
    expect(c.mode).toBe('A');
  });

  it('treats empty strings as unset', () => {
    const c = loadConfig({ PORT: '', DATABASE_URL: '', JWT_SECRET: '', ECHOFS_REGIONS: '' });
    expect(c.port).toBe(8080);
    expect(c.databaseUrl).toBeUndefined();
    expect(c.jwtSecret).toBeUndefined();
    expect(c.regions).toEqual(DEFAULT_REGIONS);
  });

  it('builds the Data API settings only when both ARNs are set', () => {
    expect(loadConfig({ ECHOFS_DB_CLUSTER_ARN: 'arn:c' }).dataApi).toBeUndefined();
    expect(loadConfig({ ECHOFS_DB_CLUSTER_ARN: 'arn:c', ECHOFS_DB_SECRET_ARN: 'arn:s' }).dataApi).toEqual({
      resourceArn: 'arn:c',
      secretArn: 'arn:s',
      database: 'echofs',
    });
  });

  const badValues: [string, Record<string, string>, RegExp][] = [
    ['PORT not a number', { PORT: 'abc' }, /^PORT must be an integer from 0 to 65535 \(got 'abc'\)$/],
    ['PORT out of range', { PORT: '70000' }, /^PORT must be an integer/],
    ['DATABASE_URL of another scheme', { DATABASE_URL: 'mysql://h/db' }, /^DATABASE_URL must start with postgres:\/\//],
    ['JWT_SECRET too short', { JWT_SECRET: 'short' }, /^JWT_SECRET must be at least 32 characters$/],
    ['ECHOFS_REGIONS with a bad name', { ECHOFS_REGIONS: 'us-east-1,mars' }, /^ECHOFS_REGIONS must be a comma-separated list of region names/],
    ['ECHOFS_REGIONS with a repeat', { ECHOFS_REGIONS: 'us-east-1,us-east-1' }, /^ECHOFS_REGIONS must not repeat a region$/],
    ['ECHOFS_ADMIN_EMAILS with a non-email', { ECHOFS_ADMIN_EMAILS: 'boss' }, /^ECHOFS_ADMIN_EMAILS must be a comma-separated list of email addresses$/],
    ['BCRYPT_COST too high', { BCRYPT_COST: '31' }, /^BCRYPT_COST must be an integer from 4 to 15/],
    ['ECHOFS_MODE unknown', { ECHOFS_MODE: 'eventual' }, /^ECHOFS_MODE must be strong, hybrid or available \(got 'eventual'\)$/],
    ['ECHOFS_STAGE unknown', { ECHOFS_STAGE: 'prod' }, /^ECHOFS_STAGE must be 'local' or 'cloud'$/],
    ['ECHOFS_TABLE too short', { ECHOFS_TABLE: 'ab' }, /^ECHOFS_TABLE must be 3 to 255 characters$/],
  ];
  for (const [what, env, message] of badValues) {
    it(`rejects ${what} with its own message`, () => {
      const problems = problemsOf(env);
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(message);
    });
  }

  it('reports every bad variable at once, one message each', () => {
    const problems = problemsOf({ PORT: 'x', JWT_SECRET: 'short', ECHOFS_MODE: 'nope' });
    expect(problems).toHaveLength(3);
    expect(problems.some((p) => p.startsWith('PORT'))).toBe(true);
    expect(problems.some((p) => p.startsWith('JWT_SECRET'))).toBe(true);
    expect(problems.some((p) => p.startsWith('ECHOFS_MODE'))).toBe(true);
  });

  it('names each problem in the error message', () => {
    expect(() => loadConfig({ PORT: 'x' })).toThrow(/Invalid configuration:\n {2}- PORT must be an integer/);
  });

  it('requires a bucket per region in the cloud', () => {
    const problems = problemsOf({ ECHOFS_STAGE: 'cloud', ECHOFS_REGIONS: 'us-east-1,eu-west-1', ECHOFS_BUCKETS: 'us-east-1=bucket-a' });
    expect(problems).toEqual(['ECHOFS_BUCKETS has no bucket for region eu-west-1']);
  });
});
