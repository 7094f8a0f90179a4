/**
 * Login throttling across containers: two AuthServices (two Lambda containers) on one catalog
 * share the failure counts, per account and per client address; past the allowance the delays
 * grow and every attempt answers 429 with Retry-After; after the window the right password works.
 * Runs on PGlite, on Postgres when DATABASE_URL is set, and through the RDS Data API dialect.
 */
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '#shared/auth/service.js';
import { TokenService } from '#shared/auth/tokens.js';
import { LoginThrottle, TooManyAttempts } from '#shared/auth/throttle.js';
import { openCatalog, type Catalog } from '#shared/catalog/db.js';
import { catalogTargets, openTestCatalog, type TestCatalog } from './catalog-fixtures.js';
import { pgliteBackend, secretsManagerReader, startDataApi } from '#emulators/data-api.js';
import { startSecretsManager } from '#emulators/secrets-manager.js';

const SECRET = 'x'.repeat(48);
const policy = { accountFree: 3, addressFree: 6, baseDelayMs: 1000, maxDelayMs: 8000, windowMs: 60_000 };

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

function scenarios(name: string, open: () => Promise<{ a: Catalog; b: Catalog; close(): Promise<void> }>) {
  describe(name, () => {
    let dbs: Awaited<ReturnType<typeof open>>;
    let now = Date.parse('2026-01-01T00:00:00Z');
    const clock = () => now;
    let containerA: AuthService;
    let containerB: AuthService;

    beforeAll(async () => {
      dbs = await open();
      const make = (c: Catalog) => new AuthService({ db: c.db, tokens: new TokenService(SECRET), bcryptCost: 4, throttle: new LoginThrottle(c.db, policy, clock) });
      containerA = make(dbs.a);
      containerB = make(dbs.b);
      await containerA.register({ username: 'victim', email: 'victim@echofs.test', password: 'right-password-1' });
    });
    afterAll(async () => {
      await dbs?.close();
    });

    it('counts failures across containers, then answers 429 with a growing Retry-After even for the right password; after the lock it works', async () => {
      const wrong = { email: 'victim@echofs.test', password: 'wrong-password' };
      // Alternate containers: the count lives in the catalog, not in a process.
      for (let i = 0; i < policy.accountFree; i++) {
        const err = await rejection((i % 2 ? containerB : containerA).login(wrong, { clientAddress: `10.0.0.${i}` }));
        expect((err as { status: number }).status).toBe(401);
      }
      // The failure past the allowance is still a 401, and locks the account for 1 s.
      expect(((await rejection(containerA.login(wrong, { clientAddress: '10.0.1.1' }))) as { status: number }).status).toBe(401);
      const locked = await rejection(containerB.login({ email: 'victim@echofs.test', password: 'right-password-1' }, { clientAddress: '10.0.1.2' }));
      expect(locked).toBeInstanceOf(TooManyAttempts);
      expect((locked as TooManyAttempts).headers['Retry-After']).toBe('1');

      // Next failure after the lock doubles the delay.
      now += 1000;
      await rejection(containerB.login(wrong, { clientAddress: '10.0.1.3' }));
      const longer = (await rejection(containerA.login(wrong, { clientAddress: '10.0.1.4' }))) as TooManyAttempts;
      expect(longer.status).toBe(429);
      expect(longer.headers['Retry-After']).toBe('2');

      now += 2000;
      const ok = await containerA.login({ email: 'victim@echofs.test', password: 'right-password-1' }, { clientAddress: '10.0.1.5' });
      expect(ok.user.email).toBe('victim@echofs.test');
      // Success clears the account's count: one wrong password is a plain 401 again.
      expect(((await rejection(containerB.login(wrong, { clientAddress: '10.0.1.6' }))) as { status: number }).status).toBe(401);
    });

    it('throttles one client address that tries many accounts', async () => {
      now += 120_000;
      for (let i = 0; i < policy.addressFree + 1; i++) {
        const err = (await rejection((i % 2 ? containerB : containerA).login({ email: `nobody${i}@echofs.test`, password: 'guess' }, { clientAddress: '192.0.2.7' }))) as { status: number };
        expect(err.status).toBe(401);
      }
      const err = (await rejection(containerA.login({ email: 'victim@echofs.test', password: 'right-password-1' }, { clientAddress: '192.0.2.7' }))) as TooManyAttempts;
      expect(err.status).toBe(429);
      // Another address is not affected.
      await expect(containerB.login({ email: 'victim@echofs.test', password: 'right-password-1' }, { clientAddress: '192.0.2.8' })).resolves.toBeDefined();
    });
  });
}

for (const target of catalogTargets) {
  scenarios(`login throttle on ${target}`, async () => {
    const t: TestCatalog = await openTestCatalog(target, { seeded: true });
    // PGlite is one process's database: both "containers" share its handle.
    const b = target === 'postgres' ? await t.reopen({ migrate: false }) : t.catalog;
    return { a: t.catalog, b, close: () => t.dispose() };
  });
}

const CLUSTER = 'arn:aws:rds:us-east-1:123456789012:cluster:catalog';
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:catalog-AbCdEf';

scenarios('login throttle through the Data API dialect', async () => {
  const secrets = await startSecretsManager([{ arn: SECRET_ARN, name: 'catalog', value: JSON.stringify({ username: 'echofs_admin', password: 'p'.repeat(32) }) }]);
  const pglite = pgliteBackend();
  const dataApi = await startDataApi({ clusters: [CLUSTER], readSecret: await secretsManagerReader(secrets.endpoint, 'us-east-1'), backendFor: () => pglite });
  const client = () => new RDSDataClient({ endpoint: dataApi.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  const a = await openCatalog({ dataApi: { resourceArn: CLUSTER, secretArn: SECRET_ARN, database: 'echofs', client: client() }, migrate: true });
  const b = await openCatalog({ dataApi: { resourceArn: CLUSTER, secretArn: SECRET_ARN, database: 'echofs', client: client() }, migrate: false });
  return {
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      await dataApi.close();
      await secrets.close();
    },
  };
});
