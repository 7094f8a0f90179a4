/**
 * GET /api/v1/files holds 10,000 files: `data` stays an array of at most `limit` files (1000 at
 * most, the default), `next_cursor` beside it leads through every file once, in name order.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { files, fileVersions } from '#shared/catalog/schema.js';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';

const N = 10_000;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
let stack: TestStack;
let owner: TestUser;
let names: string[];

beforeAll(async () => {
  stack = await startTestStack({}, { schedules: false });
  owner = await stack.register();
  // 10,000 empty files written straight into the catalog (uploading them one by one would take
  // minutes and prove nothing more about listing).
  const db = stack.system.services.catalog.db;
  names = Array.from({ length: N }, (_, i) => `file-${String(i).padStart(5, '0')}-${(i * 7919) % 10_007}.txt`);
  const shuffled = [...names].sort(() => Math.random() - 0.5);
  for (let i = 0; i < N; i += 1000) {
    const batch = shuffled.slice(i, i + 1000).map((name) => ({ id: randomUUID(), ownerId: owner.user.id, name, currentVersion: 1 }));
    await db.insert(files).values(batch);
    await db.insert(fileVersions).values(batch.map((f) => ({ fileId: f.id, version: 1, size: 0, sha256: EMPTY_SHA256, chunkCount: 0, mode: 'C' as const })));
  }
}, 180_000);

afterAll(() => stack?.stop());

async function readAll(limit?: number): Promise<{ pages: number[]; names: string[]; ids: string[] }> {
  const pages: number[] = [];
  const seen: string[] = [];
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const q = new URLSearchParams();
    if (limit !== undefined) q.set('limit', String(limit));
    if (cursor) q.set('cursor', cursor);
    const r = await stack.fetchJson(`/api/v1/files?${q}`, { token: owner.token });
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(200);
    expect(Array.isArray(r.body.data)).toBe(true);
    pages.push(r.body.data.length);
    for (const f of r.body.data as { name: string; file_id: string }[]) {
      seen.push(f.name);
      ids.push(f.file_id);
    }
    cursor = r.body.next_cursor;
    expect(pages.length).toBeLessThanOrEqual(N); // no endless cursor
  } while (cursor);
  return { pages, names: seen, ids };
}

describe('GET /api/v1/files with 10,000 files', () => {
  it('pages through every file once, in name order, 1000 per page by default', async () => {
    const all = await readAll();
    expect(all.pages).toEqual(Array(10).fill(1000));
    expect(all.names).toEqual([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(new Set(all.ids).size).toBe(N);
  });

  it('honours a smaller limit (the last page is the remainder) and refuses one above 1000 or a cursor it did not give', async () => {
    const all = await readAll(777);
    expect(all.pages).toEqual([...Array(12).fill(777), N - 12 * 777]);
    expect(new Set(all.ids).size).toBe(N);

    const tooBig = await stack.fetchJson('/api/v1/files?limit=1001', { token: owner.token });
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.error.message).toMatch(/limit/);
    const bad = await stack.fetchJson('/api/v1/files?cursor=not-a-cursor', { token: owner.token });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/cursor/);
  });

  it('finds one file by exact name (?name=) without reading the list', async () => {
    const r = await stack.fetchJson(`/api/v1/files?name=${encodeURIComponent(names[4242] as string)}`, { token: owner.token });
    expect(r.status).toBe(200);
    expect(r.body.data.map((f: { name: string }) => f.name)).toEqual([names[4242]]);
    expect(r.body.next_cursor).toBeNull();
  });
});
