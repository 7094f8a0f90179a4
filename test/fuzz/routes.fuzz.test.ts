/**
 * Fuzz every route in the route table against the local stack: fast-check generates malformed
 * path parameters, query strings, headers and bodies (plus known-hostile values: bad escapes,
 * NUL, 36 dashes, another user's file id). It proves that no generated request answers 5xx or
 * ends the server, and that none changes a known user's files. The number of requests sent per
 * run is printed (and failures shrink to the smallest request that shows them).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { routes, type Route } from '#shared/routes.js';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { scaled } from '../helpers/load.js';
import { waitFor } from '../helpers/wait.js';

/** Generated requests per route: ~37 routes × this is the run's size (kept under ~60 s loaded). */
const RUNS_PER_ROUTE = Number(process.env.ECHOFS_FUZZ_RUNS ?? 30);

let stack: TestStack;
let alice: TestUser;
let mallory: TestUser;
let aliceFileId: string;
let sent = 0;
const statuses = new Map<number, number>();

async function aliceFiles(): Promise<string> {
  const r = await stack.fetchJson('/api/v1/files', { token: alice.token });
  expect(r.status).toBe(200);
  const sha = createHash('sha256').update(await aliceBytes()).digest('hex');
  return JSON.stringify({ files: r.body.data.map((f: Record<string, unknown>) => [f.file_id, f.name, f.version, f.sha256, f.size]), sha });
}

/**
 * Alice's file, downloaded. On a loaded machine a replica read can time out: that is a 503 (or a
 * connection cut mid-body), a question of availability, not of her data, so it is retried (and
 * reported) within a budget; any other status fails at once.
 */
async function aliceBytes(): Promise<Buffer> {
  return waitFor(async () => {
    let dl: Response;
    try {
      dl = await fetch(`${stack.url}/api/v1/files/${aliceFileId}/download`, { headers: { Authorization: `Bearer ${alice.token}` } });
      if (dl.status === 503) {
        console.warn(`download of alice's file answered 503, retrying: ${await dl.text()}`);
        return undefined;
      }
      expect(dl.status).toBe(200);
      return Buffer.from(await dl.arrayBuffer());
    } catch (err) {
      if (!(err instanceof TypeError)) throw err;
      console.warn(`download of alice's file failed (${err.message}: ${String(err.cause)}), retrying`);
      return undefined;
    }
  }, "alice's file to download", scaled(30_000), 200);
}

let before: string;

beforeAll(async () => {
  stack = await startTestStack({}, { schedules: false });
  alice = await stack.register();
  mallory = await stack.register();
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(Buffer.from('alice keeps this file'))]), 'keep.txt');
  const up = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${alice.token}` } });
  expect(up.status).toBe(201);
  aliceFileId = ((await up.json()) as { data: { file_id: string } }).data.file_id;
  before = await aliceFiles();
});
afterAll(async () => {
  await stack?.stop();
});

const hostileSegment = fc.oneof(
  fc.constantFrom('%ZZ', '%', '%E0%A4%A', '%00', '%0d%0a', '-'.repeat(36), '..', '%2e%2e', '%2F', 'a'.repeat(64), 'A'.repeat(64), '00000000-0000-0000-0000-000000000000', '%C0%AF', '\u00e9', '{id}'),
  fc.string({ maxLength: 80 }).map(encodeURIComponent),
  fc.string({ unit: 'binary', maxLength: 40 }).map(encodeURIComponent),
  fc.constant('OWNED'), // replaced by alice's file id: ownership must hold
);

const text = fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: 'binary', maxLength: 60 }), fc.constantFrom('', '\u0000', 'a\r\nb', '-1', '1e400', '99999999999999999999', 'NaN', 'true', '%ZZ'));
const queryKey = fc.oneof(fc.constantFrom('version', 'limit', 'cursor', 'deleted', 'name', 'object_id', 'key'), fc.string({ maxLength: 12 }));
const query = fc.oneof(
  fc.dictionary(queryKey, text, { maxKeys: 4 }).map((d) => new URLSearchParams(d).toString()),
  fc.constantFrom('version=%ZZ', 'limit=%', '&&&', 'a=1&a=2', 'cursor=' + 'A'.repeat(3000)),
);

/** Printable header values (a client cannot send others), hostile in content. */
const headerValue = fc.oneof(fc.string({ maxLength: 60 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')), fc.constantFrom('bytes=-', 'bytes=5-1', 'bytes=0-99999999999999999999', '"x"', 'W/"1"', '*', 'multipart/form-data', 'multipart/form-data; boundary=', 'text/plain\u00e9'.replace(/[^\x20-\x7e]/g, '')));
const headers = fc.dictionary(fc.constantFrom('range', 'if-match', 'if-none-match', 'if-range', 'content-type', 'x-echofs-authorization', 'accept'), headerValue, { maxKeys: 3 });

const fieldValue = fc.oneof(text, fc.integer(), fc.double(), fc.constant(null), fc.boolean(), fc.array(fc.anything({ maxDepth: 1 }), { maxLength: 3 }), fc.constant(Number.MAX_SAFE_INTEGER * 4));
const body = fc.oneof(
  fc.record(
    {
      name: fieldValue, size: fieldValue, sha256: fieldValue, content_type: fieldValue, chunks: fieldValue, email: fieldValue, password: fieldValue, username: fieldValue,
      current_password: fieldValue, new_password: fieldValue, mode: fieldValue, hint: fieldValue, object_id: fieldValue, key: fieldValue, region: fieldValue, state: fieldValue,
    },
    { requiredKeys: [] },
  ).map((o) => JSON.stringify(o)),
  fc.json({ maxDepth: 2 }),
  fc.constantFrom('', '{', 'null', '[]', '"\u0000"', '--zzz\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc'),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
);

function fillPath(route: Route, segments: string[]): string {
  let i = 0;
  return route.path.replace(/\{[^}]+\}/g, () => {
    const s = segments[i++] ?? 'x';
    return s === 'OWNED' ? aliceFileId : s === '' ? 'x' : s;
  });
}

it(
  'no generated request to any route answers 5xx, ends the server, or changes a known user’s files',
  async () => {
    const started = Date.now();
    for (const route of routes) {
      const params = (route.path.match(/\{/g) ?? []).length;
      await fc.assert(
        fc.asyncProperty(
          fc.array(hostileSegment, { minLength: params, maxLength: params }),
          query,
          headers,
          body,
          fc.constantFrom<'mallory' | 'none' | 'garbage'>('mallory', 'mallory', 'none', 'garbage'),
          async (segments, qs, hs, b, who) => {
            const path = fillPath(route, segments) + (qs ? `?${qs}` : '');
            const h: Record<string, string> = { ...hs };
            if (who === 'mallory') h.authorization = `Bearer ${mallory.token}`;
            if (who === 'garbage') h.authorization = 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.';
            let res: Response;
            try {
              res = await fetch(stack.url + path, { method: route.method, headers: h, body: route.method === 'GET' ? undefined : b });
            } catch (err) {
              if (err instanceof TypeError && !/fetch failed/.test(err.message)) return; // the client refused to send it
              throw err;
            }
            sent++;
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            const text = await res.text();
            expect(res.status, `${route.method} ${path} -> ${text.slice(0, 300)}`).toBeLessThan(500);
            // Sign-out (or a lucky password change) revokes mallory's token: sign in again, straight
            // through the service (the fuzzed logins may have throttled this client address).
            if (who === 'mallory' && res.status === 401) {
              mallory.token = (await stack.system.services.auth.login({ email: mallory.email, password: mallory.password })).token;
            }
          },
        ),
        { numRuns: RUNS_PER_ROUTE },
      );
    }
    // Still serving, and alice's files are exactly as they were.
    expect((await stack.fetchJson('/api/v1/auth/me', { token: alice.token })).status).toBe(200);
    expect(await aliceFiles()).toBe(before);
    expect(statuses.get(401) ?? 0).toBeLessThan(sent / 2); // most requests reached past auth
    const summary = { routes: routes.length, requests: sent, seconds: Math.round((Date.now() - started) / 100) / 10, statuses: Object.fromEntries([...statuses].sort((a, b) => a[0] - b[0])) };
    console.info(`fuzz: ${JSON.stringify(summary)}`);
    expect(sent).toBeGreaterThan(routes.length * RUNS_PER_ROUTE * 0.9);
  },
  240_000,
);
