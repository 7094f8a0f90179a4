/**
 * Token holders' rows leased per process (AuthService `holderCacheMs`): a request within the lease
 * reads nothing from the catalog, and a sign-out, password change or role change made in one
 * container holds, from its answer on, for every request of every other container. Two services
 * over one PGlite catalog stand for two containers; the clock is fake and the change's wait
 * advances it.
 */
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthService } from '#shared/auth/service.js';
import { TokenService } from '#shared/auth/tokens.js';
import type { Catalog } from '#shared/catalog/db.js';
import { openSeededCatalog } from '../helpers/catalog-template.js';
import { users } from '#shared/catalog/schema.js';

const LEASE_MS = 1000;
let catalog: Catalog;
let now = Date.UTC(2030, 0, 1);
const tokens = new TokenService('h'.repeat(40), { now: () => now });
/** Catalog statements on the users table, counted. */
let userReads = 0;

function container(): AuthService {
  return new AuthService({
    db: catalog.db,
    tokens,
    bcryptCost: 4,
    adminEmails: ['boss@example.com'],
    holderCacheMs: LEASE_MS,
    clock: () => now,
    sleep: async (ms) => {
      now += ms;
    },
  });
}

beforeAll(async () => {
  catalog = await openSeededCatalog();
  const select = catalog.db.select.bind(catalog.db);
  // Count the lookups of a token's holder (a select on users by id).
  (catalog.db as unknown as { select: typeof select }).select = ((...a: Parameters<typeof select>) => {
    userReads += 1;
    return select(...a);
  }) as typeof select;
});
afterAll(async () => {
  await catalog?.close();
});

describe('token holder leases', () => {
  it('a second request within the lease reads nothing; after the lease the holder is read again', async () => {
    const a = container();
    const { token, user } = await a.register({ username: 'leased', email: 'leased@example.com', password: 'password-1' });
    const reads0 = userReads;
    expect((await a.authenticate(token)).id).toBe(user.id);
    expect(userReads).toBe(reads0 + 1);
    expect((await a.authenticate(token)).id).toBe(user.id);
    expect(userReads).toBe(reads0 + 1);
    now += LEASE_MS;
    expect((await a.authenticate(token)).id).toBe(user.id);
    expect(userReads).toBe(reads0 + 2);
  });

  it('a sign-out answered by one container refuses the token in another that held a lease on it', async () => {
    const a = container();
    const b = container();
    const { token, user } = await a.register({ username: 'leaver', email: 'leaver@example.com', password: 'password-1' });
    expect((await b.authenticate(token)).id).toBe(user.id); // b holds a lease on the old row
    await a.logout(user.id);
    await expect(b.authenticate(token)).rejects.toMatchObject({ status: 401, code: 'invalid_token' });
    await expect(a.authenticate(token)).rejects.toMatchObject({ status: 401, code: 'invalid_token' });
  });

  it('a password change refuses old tokens and download links in every container from its answer on', async () => {
    const a = container();
    const b = container();
    const { token, user } = await a.register({ username: 'changer', email: 'changer@example.com', password: 'password-1' });
    const link = await a.signLink(user, '6f1c3a52-94b1-4c55-9d0e-2b3f1f7f9a10');
    expect((await b.authenticate(token)).id).toBe(user.id);
    expect((await b.authenticateLink(link.token, { fileId: '6f1c3a52-94b1-4c55-9d0e-2b3f1f7f9a10', version: undefined })).id).toBe(user.id);
    const changed = await a.changePassword(user.id, { current_password: 'password-1', new_password: 'password-2' });
    await expect(b.authenticate(token)).rejects.toMatchObject({ status: 401 });
    await expect(b.authenticateLink(link.token, { fileId: '6f1c3a52-94b1-4c55-9d0e-2b3f1f7f9a10', version: undefined })).rejects.toMatchObject({ status: 401 });
    expect((await b.authenticate(changed.token)).id).toBe(user.id);
  });

  it('an admin role claimed in one container shows in the other once the claim is answered', async () => {
    const a = container();
    const b = container();
    const { token, user } = await a.register({ username: 'boss', email: 'boss@example.com', password: 'password-1' });
    // Registered as admin (the list); demote directly, then let b lease the demoted row.
    await catalog.db.update(users).set({ role: 'user' }).where(eq(users.id, user.id));
    now += LEASE_MS;
    expect((await b.authenticate(token)).role).toBe('user');
    await a.claimAdmin(user.id);
    expect((await b.authenticate(token)).role).toBe('admin');
  });

  it('without a lease (the default) every request reads its holder', async () => {
    const plain = new AuthService({ db: catalog.db, tokens, bcryptCost: 4 });
    const { token } = await plain.register({ username: 'plain', email: 'plain@example.com', password: 'password-1' });
    const reads0 = userReads;
    await plain.authenticate(token);
    await plain.authenticate(token);
    expect(userReads).toBe(reads0 + 2);
  });
});
