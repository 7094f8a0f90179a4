/**
 * What `cdk deploy` uploads, tested offline: the CDK app's own synthesis (assembly.ts), every
 * function bundle loaded alone in an empty folder (bundles.ts), then the API acceptance suite run
 * against those bundles the way Lambda runs them (harness.ts): the same scenarios as against
 * `npm start` (test/acceptance/local.test.ts). One file, so a test run waits for the synthesis in
 * one worker only.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import { defineAcceptance } from '../acceptance/scenarios.js';
import type { Target } from '../acceptance/target.js';
import { synthesizedApp } from './assembly.js';
import { importEveryBundle, nodeModulesAbove } from './bundles.js';
import type { InvokeOutcome } from './containers.js';
import { deploy, type Deployment } from './deployment.js';
import { startHarness, type Harness } from './harness.js';

/**
 * The deadline the scheduled prober run gets here instead of its 70 s timeout. It budgets its
 * sub-minute probes by the context's remaining time, so it ends on its own well before that:
 * ticks at 0, 5 and 10 s (the template's 5 s interval), then no fourth, as a tick needs its probe
 * timeout plus 2 s of the deadline left.
 */
const PROBER_RUN_MS = 16_000;

describe('deployed bundles', () => {
  let d: Deployment;
  const scratch = mkdtempSync(join(tmpdir(), 'echofs-bundles-'));
  beforeAll(async () => {
    const t0 = Date.now();
    const assembly = await synthesizedApp();
    process.stdout.write(`lambda harness: synthesis ${assembly.synthMs} ms (0: reused), ready after ${Date.now() - t0} ms\n`);
    d = deploy(assembly);
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('the app builds a bundle for each of the seven functions', () => {
    expect(Object.keys(d.functions).map((id) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual(
      ['Auth', 'Controller', 'Files', 'FilesStream', 'Migrate', 'Prober', 'Replicator'].sort(),
    );
  });

  it('each bundle imports in an empty folder and exports its handler', async () => {
    expect(nodeModulesAbove(scratch)).toEqual([]);
    expect(await importEveryBundle(d, scratch)).toEqual([]);
  });
});

describe('the deployed bundles in Lambda-shaped containers', () => {
  let h: Harness;
  let target: Target;
  const proberRuns: Promise<InvokeOutcome>[] = [];

  beforeAll(async () => {
    const t0 = Date.now();
    h = await startHarness();
    process.stdout.write(`lambda harness: emulators up and migrations applied in ${Date.now() - t0} ms\n`);
    // The admin bootstrap token, as an operator reads it after `cdk deploy`: the value of the
    // secret the deploy generated, named by the auth function's environment.
    const tokenArn = h.deployment.functions[h.fnFor('auth')]?.environment.ECHOFS_ADMIN_TOKEN_ARN;
    const adminToken = h.secrets.get(tokenArn ?? '')?.value;
    if (!adminToken) throw new Error(`the auth function names no admin token secret the emulator serves (ECHOFS_ADMIN_TOKEN_ARN=${tokenArn})`);
    target = {
      name: 'lambda harness',
      url: h.url,
      regions: Object.keys(h.deployment.buckets),
      adminToken,
      admin: async () => {
        throw new Error('use adminAccount()');
      },
      async partition(region, on) {
        h.faults.set(region, { state: on ? 'blackhole' : 'up' });
      },
      async runReplicator() {
        const out = await h.runSchedule((s) => s.input.includes('"drain"'));
        if (out.kind !== 'result') throw new Error(`the scheduled drain failed: ${out.kind === 'error' ? out.payload.toString('utf8') : 'streamed'}`);
      },
      async runProber() {
        // Started, not awaited: its probes run on their schedule inside the invocation while the
        // scenario goes on; the run's own end is checked below.
        proberRuns.push(h.runSchedule((s) => s.input.includes('"probe"'), { timeoutMs: PROBER_RUN_MS }));
      },
      containersOf(routeKey, since) {
        return h
          .records()
          .filter((r) => r.label === routeKey && r.at >= since)
          .map((r) => r.container);
      },
      stop: () => h.stop(),
    };
  });

  afterAll(async () => {
    if (!h) return;
    // Figures for the record, per function: bundle size, cold starts (spawn to ready: node start
    // plus the bundle's import), the first invocation, recycling.
    const rows = Object.values(h.pools).map((p) => {
      const inits = p.records.filter((r) => r.cold && r.initMs !== undefined).map((r) => r.initMs as number).sort((a, b) => a - b);
      const first = p.records.find((r) => r.cold);
      return {
        fn: p.spec.logicalId.replace(/[0-9A-F]{8}$/, ''),
        bundleKiB: Math.round(statSync(join(p.spec.assetDir, 'index.mjs')).size / 1024),
        invocations: p.records.length,
        coldStarts: p.coldStarts,
        recycled: p.recycled,
        firstInitMs: first?.initMs,
        medianInitMs: inits[Math.floor(inits.length / 2)],
        firstInvocationMs: first?.durationMs,
      };
    });
    process.stdout.write(`lambda harness: ${JSON.stringify(rows)}\n`);
    await h.stop();
  });

  defineAcceptance(() => target);

  describe('the Lambda model itself', () => {
    it('containers were frozen between invocations, some recycled, and consecutive invocations changed container', () => {
      const files = h.pools[h.fnFor('files')];
      expect(files).toBeDefined();
      const records = [...(files?.records ?? [])].sort((a, b) => a.at - b.at);
      expect(records.length).toBeGreaterThan(10);
      expect(files?.recycled).toBeGreaterThan(0);
      const sequential = records.slice(1).filter((r, i) => r.container === records[i]?.container && r.at > (records[i]?.at ?? 0) + (records[i]?.durationMs ?? 0));
      expect(sequential, 'back-to-back reuse of one container').toEqual([]);
    });

    it('the replicator kick after a write is an async (Event) invocation, accepted before the response is posted, so before the container is frozen', () => {
      const replicator = h.deployment.functions[h.fnFor('replicator')];
      const kicks = h.invokeApi.accepted.filter((a) => a.type === 'Event' && a.fn === replicator?.logicalId);
      expect(kicks.length).toBeGreaterThan(0);
      expect(JSON.parse(kicks[0]?.payload ?? '{}')).toEqual({ task: 'drain' });
      // Each kick carries the trace id of the invocation that sent it (the SDK's X-Amzn-Trace-Id).
      const byTrace = new Map(h.records().map((r) => [r.traceId, r]));
      const senders = kicks.map((k) => ({ k, inv: byTrace.get(k.traceId ?? '') }));
      for (const { k, inv } of senders) {
        expect(inv, `a kick with trace id ${k.traceId} sent by no known invocation`).toBeDefined();
        if (!inv) continue;
        const what = `${inv.fn} ${inv.label ?? ''} (${inv.requestId}): kick arrived ${k.at}, accepted ${k.answeredAt}, response posted ${inv.respondedAt}, container ${inv.idle} ${inv.idleAt}`;
        // The Invoke API takes INVOKE_ACCEPT_DELAY_MS to accept: a handler that does not await the
        // kick posts its response first.
        expect(k.answeredAt, what).toBeDefined();
        expect(inv.respondedAt, what).toBeDefined();
        expect(k.answeredAt as number, what).toBeLessThanOrEqual(inv.respondedAt as number);
        expect(inv.idleAt, what).toBeDefined();
        expect(inv.idleAt as number, what).toBeGreaterThanOrEqual(inv.respondedAt as number);
      }
      expect(senders.filter((s) => s.inv?.fn === h.fnFor('files')).length, 'kicks sent by the files function after writes').toBeGreaterThan(0);
    });

    it('an upload retried with its Idempotency-Key on another container returns the first outcome: the record is in the catalog, not in a container', async () => {
      const id = randomUUID().slice(0, 8);
      const reg = await fetch(`${h.url}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: `idem_${id}`, email: `idem-${id}@echofs.test`, password: `pw-${id}-secret` }),
      });
      expect(reg.status).toBe(201);
      const { token } = (await reg.json()) as { token: string };
      const key = randomUUID();
      const data = randomBytes(5000);
      const since = Date.now();
      const send = async () => {
        const form = new FormData();
        form.append('file', new Blob([new Uint8Array(data)]), 'idem-lambda.bin');
        const r = await fetch(`${h.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}`, 'Idempotency-Key': key } });
        return { status: r.status, replayed: r.headers.get('idempotent-replayed'), body: (await r.json()) as { data: { file_id: string; version: number } } };
      };
      const first = await send();
      const again = await send();
      expect(first.status, JSON.stringify(first.body)).toBe(201);
      expect(again.status, JSON.stringify(again.body)).toBe(201);
      expect(again.replayed).toBe('true');
      expect(again.body).toEqual(first.body);
      const containers = h.records().filter((r) => r.label === 'POST /api/v1/files/upload' && r.at >= since).map((r) => r.container);
      expect(containers, 'the two sends ran in two containers').toHaveLength(2);
      expect(new Set(containers).size).toBe(2);
      const versions = await fetch(`${h.url}/api/v1/files/${first.body.data.file_id}/versions`, { headers: { Authorization: `Bearer ${token}` } });
      expect(((await versions.json()) as { data: { versions: unknown[] } }).data.versions, 'one version: the retry did not write again').toHaveLength(1);
    });

    it('a signed download link opens the file through the streaming Function URL with no bearer token, as an attachment, byte-exact', async () => {
      const id = randomUUID().slice(0, 8);
      const reg = await fetch(`${h.url}/api/v1/auth/register`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ username: `link_${id}`, email: `link-${id}@echofs.test`, password: `pw-${id}-secret` }),
      });
      expect(reg.status).toBe(201);
      const { token } = (await reg.json()) as { token: string };
      const data = randomBytes(1024 * 1024 + 99);
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(data)]), 'linked.bin');
      const up = await fetch(`${h.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}` } });
      expect(up.status).toBe(201);
      const fileId = ((await up.json()) as { data: { file_id: string } }).data.file_id;
      const linked = await fetch(`${h.url}/api/v1/files/${fileId}/download-link`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
      expect(linked.status).toBe(200);
      const { url } = ((await linked.json()) as { data: { url: string } }).data;
      const since = Date.now();
      const got = await fetch(new URL(url, h.url));
      expect(got.status).toBe(200);
      expect(got.headers.get('content-disposition')).toMatch(/^attachment; .*filename\*=UTF-8''linked\.bin/);
      const bytes = Buffer.from(await got.arrayBuffer());
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
      expect(h.records().some((r) => r.at >= since && r.fn === h.fnFor('stream') && r.outcome === 'stream'), 'served by the streaming Function URL').toBe(true);
      // A session token in `link` is refused there as well.
      const asLink = await fetch(`${h.url}/api/v1/files/${fileId}/download?link=${encodeURIComponent(token)}`);
      expect(asLink.status).toBe(401);
      expect(((await asLink.json()) as { error: { code: string } }).error.code).toBe('invalid_link');
    });

    it.skipIf(!process.env.DATABASE_URL)("the functions' catalog secret is the DML-only runtime role's: through it DDL is refused, data statements run", async () => {
      const files = h.deployment.functions[h.fnFor('files')];
      const migrate = h.deployment.functions[h.fnFor('migrate')];
      const env = files?.environment ?? {};
      expect(env.ECHOFS_DB_SECRET_ARN, 'the files function has a catalog secret').toBeDefined();
      expect(env.ECHOFS_DB_SECRET_ARN, "the owner's secret is the migrate function's alone").not.toBe(migrate?.environment.ECHOFS_DB_SECRET_ARN);
      const secret = JSON.parse(h.secrets.get(env.ECHOFS_DB_SECRET_ARN ?? '')?.value ?? '{}') as { username?: string };
      expect(secret.username).toMatch(/^echofs_app_/);
      const client = new RDSDataClient({ endpoint: h.dataApi.endpoint, region: h.deployment.region, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
      const on = { resourceArn: env.ECHOFS_DB_CLUSTER_ARN, secretArn: env.ECHOFS_DB_SECRET_ARN, database: env.ECHOFS_DB_NAME };
      try {
        const me = await client.send(new ExecuteStatementCommand({ ...on, sql: 'SELECT current_user AS me, (SELECT count(*) FROM users) AS users' }));
        expect(me.records?.[0]?.[0]?.stringValue).toBe(secret.username);
        expect(me.records?.[0]?.[1]?.longValue).toBeGreaterThan(0);
        for (const ddl of ['CREATE TABLE intruder (id int)', 'DROP TABLE users', 'ALTER TABLE users ADD COLUMN intruder int', 'TRUNCATE chunk_placements', "INSERT INTO schema_migrations (id) VALUES ('intruder')"]) {
          await expect(client.send(new ExecuteStatementCommand({ ...on, sql: ddl })), ddl).rejects.toMatchObject({ name: 'BadRequestException', message: expect.stringMatching(/permission denied|must be owner/) });
        }
      } finally {
        client.destroy();
      }
    });

    it("the scheduled prober run budgets by the context's remaining time: it returns on its own before its deadline, after several probe ticks", async () => {
      expect(proberRuns.length, 'the replication scenario started a prober run').toBeGreaterThan(0);
      const prober = h.pools[h.fnFor('prober')];
      for (const run of proberRuns) {
        const out = await run;
        const text = out.kind === 'stream' ? 'streamed' : out.payload.toString('utf8');
        // At the deadline the sandbox is reset (an error outcome, Sandbox.Timedout): a result means it returned first.
        expect(out.kind, text).toBe('result');
        // A tick every 5 s (the template's ECHOFS_PROBE_INTERVAL_MS) from the start until too little time is left.
        expect((JSON.parse(text) as { ticks: number }).ticks).toBeGreaterThanOrEqual(3);
      }
      const durations = (prober?.records ?? []).map((r) => r.durationMs);
      expect(durations).toHaveLength(proberRuns.length);
      for (const ms of durations) expect(ms, 'invocation time, from delivery to response').toBeLessThan(PROBER_RUN_MS);
    }, PROBER_RUN_MS + 10_000);
  });
});
