import { randomBytes } from 'node:crypto';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '#shared/auth/service.js';
import { TokenService } from '#shared/auth/tokens.js';
import { openCatalog, queryRows, type Catalog } from '#shared/catalog/db.js';
import { MIGRATIONS, migrate } from '#shared/catalog/migrations.js';
import { users } from '#shared/catalog/schema.js';
import { HealthTracker } from '#shared/controller/health.js';
import { StorageEngine } from '#shared/storage/engine.js';
import { MemoryObjectStore } from '#shared/storage/memory-store.js';
import { pgliteBackend, secretsManagerReader, startDataApi, type DataApiEmulator } from '#emulators/data-api.js';
import { startSecretsManager, type SecretsManagerEmulator } from '#emulators/secrets-manager.js';

const CLUSTER = 'arn:aws:rds:us-east-1:123456789012:cluster:catalog';
const SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:catalog-AbCdEf';

// The cloud path: the catalog through the RDS Data API dialect, with the real SDK client against
// the Data API emulator (infra/emulators/data-api.ts) over PGlite instead of Aurora.
describe('catalog through the Data API dialect', () => {
  let secrets: SecretsManagerEmulator;
  let dataApi: DataApiEmulator;
  let client: RDSDataClient;
  const statements: string[] = [];
  /** Every call the dialect makes (ExecuteStatement, BeginTransaction, CommitTransaction…). */
  const calls: string[] = [];
  let catalog: Catalog;

  beforeAll(async () => {
    secrets = await startSecretsManager([{ arn: SECRET, name: 'catalog', value: JSON.stringify({ username: 'echofs_admin', password: 'p'.repeat(32) }) }]);
    const pglite = pgliteBackend();
    dataApi = await startDataApi({ clusters: [CLUSTER], readSecret: await secretsManagerReader(secrets.endpoint, 'us-east-1'), backendFor: () => pglite });
    client = new RDSDataClient({ endpoint: dataApi.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    // Every statement the dialect sends, as the service receives it.
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const sqlText = (args.input as { sql?: unknown }).sql;
        if (typeof sqlText === 'string') statements.push(sqlText);
        // A straggling replica write marks its copy present after the answer: not the upload's call.
        if (!(typeof sqlText === 'string' && sqlText.startsWith('update "chunk_placements" set "state"'))) calls.push(String((context as { commandName?: unknown }).commandName));
        return next(args);
      },
      { step: 'initialize' },
    );
    catalog = await openCatalog({ dataApi: { resourceArn: CLUSTER, secretArn: SECRET, database: 'echofs', client }, migrate: true });
  });
  afterAll(async () => {
    await catalog?.close();
    client?.destroy();
    await dataApi?.close();
    await secrets?.close();
  });

  it('applies the migrations on open, one statement per call, and again applies nothing', async () => {
    expect(catalog.kind).toBe('data-api');
    const ids = await queryRows<{ id: string }>(catalog.db, sql`SELECT id FROM schema_migrations ORDER BY id`);
    expect(ids.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id));
    expect(statements.length).toBeGreaterThan(MIGRATIONS.length);
    for (const s of statements) expect(s.trim().replace(/;$/, '')).not.toContain(';');
    expect((await migrate(catalog.db)).applied).toEqual([]);
  });

  it('answers ping', async () => {
    await expect(catalog.ping()).resolves.toBeUndefined();
  });

  it('registers, logs in and authenticates users', async () => {
    const auth = new AuthService({ db: catalog.db, tokens: new TokenService('d'.repeat(40)), bcryptCost: 4, adminEmails: ['ops@example.com'] });
    const reg = await auth.register({ username: 'cloudy', email: 'Ops@Example.com', password: 'password-1' });
    expect(reg.user).toMatchObject({ username: 'cloudy', email: 'ops@example.com', role: 'admin' });
    const login = await auth.login({ email: 'ops@example.com', password: 'password-1' });
    expect((await auth.authenticate(login.token)).id).toBe(reg.user.id);
    await expect(auth.register({ username: 'other', email: 'ops@example.com', password: 'password-2' })).rejects.toMatchObject({ status: 409 });
    const changed = await auth.changePassword(reg.user.id, { current_password: 'password-1', new_password: 'password-3' });
    await expect(auth.authenticate(login.token)).rejects.toMatchObject({ status: 401 });
    expect((await auth.authenticate(changed.token)).id).toBe(reg.user.id);
    const [row] = await catalog.db.select().from(users).where(eq(users.id, reg.user.id));
    expect(row?.tokenVersion).toBe(1);
    expect(row?.createdAt).toBeInstanceOf(Date);
  });
  it('commits a small upload in one call after the chunk touch, with If-Match, the quota and usage checked in it', async () => {
    const [owner] = await catalog.db.insert(users).values({ username: 'writer', email: 'writer@example.com', passwordHash: 'x' }).returning();
    if (!owner) throw new Error('no user');
    const engine = new StorageEngine({
      db: catalog.db,
      stores: new Map(['r1', 'r2', 'r3'].map((r) => [r, new MemoryObjectStore(r)])),
      config: { mode: 'C', maxFileBytes: 1 << 20, quotaBytes: 50_000, uploadTtlSeconds: 3600, replicaTimeoutMs: 5000 },
      health: new HealthTracker(),
      modeSource: { modeFor: async () => ({ mode: 'C', reason: 'test' }) },
    });
    const upload = async (name: string, size: number, ifMatch?: number) => {
      calls.length = 0;
      const body = randomBytes(size);
      const info = await engine.uploadStream(owner.id, { name, ifMatch }, (async function* () {
        yield body;
      })());
      return { info, calls: [...calls] };
    };
    const first = await upload('cloud.bin', 16 * 1024);
    expect(first.info.version).toBe(1);
    expect(first.calls).toEqual(['ExecuteStatementCommand', 'ExecuteStatementCommand']);
    const second = await upload('cloud.bin', 16 * 1024, 1);
    expect(second.info.version).toBe(2);
    expect(second.calls).toEqual(['ExecuteStatementCommand', 'ExecuteStatementCommand']);
    await expect(upload('cloud.bin', 100, 1)).rejects.toMatchObject({ status: 412, code: 'version_mismatch' });
    await expect(upload('big.bin', 20_000)).rejects.toMatchObject({ status: 413, code: 'quota_exceeded' });
    const [row] = await catalog.db.select({ used: users.usedBytes }).from(users).where(eq(users.id, owner.id));
    expect(row?.used).toBe(2 * 16 * 1024);
    await engine.drain();
  });
});
