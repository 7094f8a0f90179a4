import { PGlite } from '@electric-sql/pglite';
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '#shared/auth/service.js';
import { TokenService } from '#shared/auth/tokens.js';
import { openCatalog, queryRows, type Catalog } from '#shared/catalog/db.js';
import { MIGRATIONS, migrate } from '#shared/catalog/migrations.js';
import { users } from '#shared/catalog/schema.js';
import { fakeDataApiClient } from './data-api-fake.js';

// The cloud path: the catalog through the RDS Data API dialect, with a client that runs the
// statements on PGlite instead of Aurora.
describe('catalog through the Data API dialect', () => {
  let pglite: PGlite;
  let client: ReturnType<typeof fakeDataApiClient>;
  let catalog: Catalog;

  beforeAll(async () => {
    pglite = new PGlite();
    await pglite.waitReady;
    client = fakeDataApiClient(pglite);
    catalog = await openCatalog({ dataApi: { resourceArn: 'arn:cluster', secretArn: 'arn:secret', database: 'echofs', client }, migrate: true });
  });
  afterAll(async () => {
    await catalog?.close();
    await pglite?.close();
  });

  it('applies the migrations on open, one statement per call, and again applies nothing', async () => {
    expect(catalog.kind).toBe('data-api');
    const ids = await queryRows<{ id: string }>(catalog.db, sql`SELECT id FROM schema_migrations ORDER BY id`);
    expect(ids.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id));
    for (const s of client.statements) expect(s.trim().replace(/;$/, '')).not.toContain(';');
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
});
