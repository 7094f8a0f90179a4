import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog, queryRows, type Catalog } from '#shared/catalog/db.js';
import { openPgliteCatalog } from '#shared/catalog/pglite.js';
import { MIGRATIONS } from '#shared/catalog/migrations.js';
import { createMigrateHandler, isTransient, PHYSICAL_RESOURCE_ID } from '#functions/migrate/handler.js';
import { sql } from 'drizzle-orm';

describe('migrate custom resource', () => {
  let shared: Catalog;
  let opens = 0;
  let closes = 0;
  // One embedded catalog for the whole file; the handler's close() must not end it.
  const openShared = async (): Promise<Catalog> => {
    opens++;
    return { ...shared, close: async () => void closes++ };
  };
  const noSleep = async () => undefined;

  beforeAll(async () => {
    shared = await openCatalog({ embedded: openPgliteCatalog, migrate: false });
  });
  afterAll(async () => {
    await shared?.close();
  });

  it('Create applies every migration and closes the catalog', async () => {
    const res = await createMigrateHandler({ openCatalog: openShared, sleep: noSleep })({ RequestType: 'Create' });
    expect(res).toEqual({ PhysicalResourceId: PHYSICAL_RESOURCE_ID, Data: { Applied: MIGRATIONS.map((m) => m.id).join(',') } });
    expect(closes).toBe(opens);
    const tables = await queryRows<{ n: number }>(shared.db, sql`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'users'`);
    expect(tables[0]?.n).toBe(1);
  });

  it('Update applies nothing when the catalog is current', async () => {
    const res = await createMigrateHandler({ openCatalog: openShared, sleep: noSleep })({ RequestType: 'Update', PhysicalResourceId: PHYSICAL_RESOURCE_ID });
    expect(res).toEqual({ PhysicalResourceId: PHYSICAL_RESOURCE_ID, Data: { Applied: '' } });
  });

  it('Delete keeps the data and does not even open the catalog', async () => {
    const before = opens;
    const res = await createMigrateHandler({ openCatalog: openShared, sleep: noSleep })({ RequestType: 'Delete', PhysicalResourceId: 'given-id' });
    expect(res).toEqual({ PhysicalResourceId: 'given-id' });
    expect(opens).toBe(before);
  });

  it('waits out a resuming database, then migrates', async () => {
    let calls = 0;
    const flaky = async () => {
      calls++;
      if (calls < 3) throw Object.assign(new Error('Database is resuming'), { name: 'DatabaseResumingException' });
      return openShared();
    };
    const res = await createMigrateHandler({ openCatalog: flaky, sleep: noSleep })({ RequestType: 'Create' });
    expect(res.PhysicalResourceId).toBe(PHYSICAL_RESOURCE_ID);
    expect(calls).toBe(3);
  });

  it('fails at once on an error that waiting cannot fix', async () => {
    let calls = 0;
    const broken = async (): Promise<Catalog> => {
      calls++;
      throw new Error('syntax error at or near "CREAT"');
    };
    await expect(createMigrateHandler({ openCatalog: broken, sleep: noSleep })({ RequestType: 'Create' })).rejects.toThrow(/syntax error/);
    expect(calls).toBe(1);
  });

  it('tells transient errors from permanent ones', () => {
    expect(isTransient(Object.assign(new Error('x'), { name: 'DatabaseResumingException' }))).toBe(true);
    expect(isTransient(new Error('connect ECONNREFUSED 127.0.0.1:5432'))).toBe(true);
    expect(isTransient(new Error('wrapped', { cause: new Error('Communications link failure') }))).toBe(true);
    expect(isTransient(new Error('relation "users" already exists'))).toBe(false);
  });
});
