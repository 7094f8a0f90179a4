import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { handler } from '#functions/auth/handler.js';
import type { ApiEvent } from '#functions/_lib/api.js';
import { openCatalog } from '#shared/catalog/db.js';
import { startFaultProxy, type FaultProxy } from '#local/faultproxy.js';
import { createTestDatabase, type ScratchDatabase } from '../helpers/databases.js';

const ctx = { awsRequestId: 'r1', getRemainingTimeInMillis: () => 30_000 } as unknown as Context; // only the fields read

function registerEvent(body: object): ApiEvent {
  return {
    version: '2.0',
    routeKey: 'POST /api/v1/auth/register',
    rawPath: '/api/v1/auth/register',
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: { requestId: 'r1', http: { method: 'POST', path: '/api/v1/auth/register' } },
    body: JSON.stringify(body),
    isBase64Encoded: false,
  } as unknown as ApiEvent; // a minimal API Gateway v2 event: only the fields the handler reads
}

// The function's environment stays the same throughout, as in a Lambda container: only the
// catalog's reachability changes (a TCP fault proxy in front of PostgreSQL refuses, then passes,
// connections). Functions never migrate, so the database is migrated beforehand, as the migrate
// function does at deploy.
describe.skipIf(!process.env.DATABASE_URL)('auth Lambda entry point (needs DATABASE_URL)', () => {
  let db: ScratchDatabase;
  let proxy: FaultProxy;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'echofs-lambda-'));
    db = await createTestDatabase(process.env.DATABASE_URL as string);
    await (await openCatalog({ databaseUrl: db.url, migrate: true })).close();
    const server = new URL(db.url);
    proxy = await startFaultProxy({ targetHost: server.hostname, targetPort: Number(server.port || 5432) });
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await proxy?.close();
    await db?.drop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers 503 with Retry-After while the catalog is unreachable at cold start, then the same environment recovers on a later request', async () => {
    const viaProxy = new URL(db.url);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    vi.stubEnv('ECHOFS_DATA_DIR', dataDir);
    vi.stubEnv('JWT_SECRET', '');
    vi.stubEnv('BCRYPT_COST', '4');
    vi.stubEnv('DATABASE_URL', viaProxy.toString());

    proxy.set({ state: 'refuse' });
    const down = await handler(registerEvent({ username: 'lambda', email: 'l@example.com', password: 'password-1' }), ctx);
    expect(down.statusCode, down.body).toBe(503);
    expect(down.headers?.['Retry-After']).toBe('5');
    expect(JSON.parse(down.body ?? '{}')).toMatchObject({ success: false, error: { code: 'starting' } });
    expect(down.body, 'no driver or socket text reaches the client').not.toMatch(/ECONN|postgres|127\.0\.0\.1/i);

    proxy.set({ state: 'up' });
    const up = await handler(registerEvent({ username: 'lambda', email: 'l@example.com', password: 'password-1' }), ctx);
    expect(up.statusCode, up.body).toBe(201);
    // Local stage without JWT_SECRET: a secret was generated and kept under the data dir.
    expect((await stat(join(dataDir, 'jwt-secret'))).isFile()).toBe(true);
  });
});
