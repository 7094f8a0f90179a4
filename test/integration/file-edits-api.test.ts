/**
 * Editing files through the HTTP API on the local stack: restoring an earlier version (a new
 * version with the old bytes, history kept, quota applied), renaming (409 on a live name, 400
 * naming the field), and deleting a file in the bin for good (gone from the bin and unrestorable),
 * with the bin listing its retention period.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';

let stack: TestStack;
const QUOTA = 64;

beforeAll(async () => {
  stack = await startTestStack({ ECHOFS_QUOTA_BYTES: String(QUOTA), ECHOFS_TRASH_RETENTION_SECONDS: '604800' }, { schedules: false });
});
afterAll(() => stack?.stop());

async function upload(user: TestUser, name: string, content: string): Promise<{ file_id: string; version: number }> {
  const form = new FormData();
  form.append('file', new Blob([content]), name);
  const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}` }, body: form });
  const body = (await res.json()) as { data: { file_id: string; version: number } };
  expect(res.status, JSON.stringify(body)).toBe(201);
  return body.data;
}

async function content(user: TestUser, id: string): Promise<string> {
  const res = await fetch(`${stack.url}/api/v1/files/${id}/download`, { headers: { Authorization: `Bearer ${user.token}` } });
  expect(res.status).toBe(200);
  return res.text();
}

describe('POST /api/v1/files/{id}/versions/{version}/restore', () => {
  it("commits the old version's bytes as a new current version and keeps every version", async () => {
    const u = await stack.register();
    const f = await upload(u, 'report.txt', 'first draft');
    await upload(u, 'report.txt', 'second draft');
    const r = await stack.fetchJson(`/api/v1/files/${f.file_id}/versions/1/restore`, { method: 'POST', token: u.token });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.data).toMatchObject({ file_id: f.file_id, name: 'report.txt', version: 3, size: 'first draft'.length });
    expect(await content(u, f.file_id)).toBe('first draft');
    const versions = await stack.fetchJson(`/api/v1/files/${f.file_id}/versions`, { token: u.token });
    expect(versions.body.data.versions.map((v: { version: number; current: boolean }) => [v.version, v.current])).toEqual([
      [3, true],
      [2, false],
      [1, false],
    ]);
    // The restored version's sha256 is the old one's.
    const [v3, , v1] = versions.body.data.versions as { sha256: string }[];
    expect(v3?.sha256).toBe(v1?.sha256);
    const old = await fetch(`${stack.url}/api/v1/files/${f.file_id}/download?version=2`, { headers: { Authorization: `Bearer ${u.token}` } });
    expect(await old.text()).toBe('second draft');
  });

  it('answers 404 for an unknown file or version, 400 naming the field for a bad version, 409 for the current one', async () => {
    const u = await stack.register();
    const f = await upload(u, 'a.txt', 'aaa');
    const post = (path: string) => stack.fetchJson(path, { method: 'POST', token: u.token });
    const unknownVersion = await post(`/api/v1/files/${f.file_id}/versions/9/restore`);
    expect([unknownVersion.status, unknownVersion.body.error.code]).toEqual([404, 'version_not_found']);
    const unknownFile = await post('/api/v1/files/3f2b6c1e-0d4a-4c7e-9a55-2e1f0b8c7d61/versions/1/restore');
    expect([unknownFile.status, unknownFile.body.error.code]).toEqual([404, 'file_not_found']);
    for (const bad of ['0', 'abc', '-1', '99999999999']) {
      const r = await post(`/api/v1/files/${f.file_id}/versions/${bad}/restore`);
      expect([r.status, r.body.error.field], bad).toEqual([400, 'version']);
    }
    const current = await post(`/api/v1/files/${f.file_id}/versions/1/restore`);
    expect([current.status, current.body.error.code]).toEqual([409, 'already_current']);
    // Another owner's file is not found.
    const other = await stack.register();
    const foreign = await stack.fetchJson(`/api/v1/files/${f.file_id}/versions/1/restore`, { method: 'POST', token: other.token });
    expect(foreign.status).toBe(404);
  });

  it('respects the quota: the restored copy counts, and a restore past the quota is refused with 413', async () => {
    const u = await stack.register();
    const f = await upload(u, 'big.txt', 'x'.repeat(30));
    await upload(u, 'big.txt', 'y'.repeat(20)); // 50 of 64 bytes used
    const r = await stack.fetchJson(`/api/v1/files/${f.file_id}/versions/1/restore`, { method: 'POST', token: u.token });
    expect([r.status, r.body.error?.code]).toEqual([413, 'quota_exceeded']);
    expect(await content(u, f.file_id)).toBe('y'.repeat(20));
  });
});

describe('POST /api/v1/files/{id}/rename', () => {
  it('renames a file (its versions follow), refuses a live name with 409 and a bad name with 400 naming the field', async () => {
    const u = await stack.register();
    const f = await upload(u, 'old.txt', 'one');
    await upload(u, 'old.txt', 'two');
    await upload(u, 'taken.txt', 'other');
    const r = await stack.fetchJson(`/api/v1/files/${f.file_id}/rename`, { token: u.token, body: { name: 'new.txt' } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.data).toMatchObject({ file_id: f.file_id, name: 'new.txt', version: 2 });
    const names = await stack.fetchJson('/api/v1/files', { token: u.token });
    expect(names.body.data.map((x: { name: string }) => x.name).sort()).toEqual(['new.txt', 'taken.txt']);
    // The old name is free again: an upload there is a new file.
    expect((await upload(u, 'old.txt', 'fresh')).version).toBe(1);

    const clash = await stack.fetchJson(`/api/v1/files/${f.file_id}/rename`, { token: u.token, body: { name: 'taken.txt' } });
    expect([clash.status, clash.body.error.code]).toEqual([409, 'name_taken']);
    for (const name of ['', 'a/b', '..', 'x'.repeat(300)]) {
      const bad = await stack.fetchJson(`/api/v1/files/${f.file_id}/rename`, { token: u.token, body: { name } });
      expect([bad.status, bad.body.error.field], JSON.stringify(name)).toEqual([400, 'name']);
    }
    const missing = await stack.fetchJson(`/api/v1/files/${f.file_id}/rename`, { token: u.token, body: {} });
    expect([missing.status, missing.body.error.field]).toEqual([400, 'name']);
    // Same name: nothing changes.
    expect((await stack.fetchJson(`/api/v1/files/${f.file_id}/rename`, { token: u.token, body: { name: 'new.txt' } })).status).toBe(200);
    const gone = await stack.fetchJson('/api/v1/files/3f2b6c1e-0d4a-4c7e-9a55-2e1f0b8c7d61/rename', { token: u.token, body: { name: 'z.txt' } });
    expect(gone.status).toBe(404);
  });

  it('a file in the bin cannot be renamed (404)', async () => {
    const u = await stack.register();
    const f = await upload(u, 'binned.txt', 'b');
    expect((await stack.fetchJson(`/api/v1/files/${f.file_id}`, { method: 'DELETE', token: u.token })).status).toBe(200);
    expect((await stack.fetchJson(`/api/v1/files/${f.file_id}/rename`, { token: u.token, body: { name: 'c.txt' } })).status).toBe(404);
  });
});

describe('DELETE /api/v1/files/{id}?permanent=true', () => {
  it('deletes a file in the bin for good; a live file must go to the bin first; the bin shows its retention', async () => {
    const u = await stack.register();
    const f = await upload(u, 'secret.txt', 's1');
    await upload(u, 'secret.txt', 's2');
    const live = await stack.fetchJson(`/api/v1/files/${f.file_id}?permanent=true`, { method: 'DELETE', token: u.token });
    expect([live.status, live.body.error.code]).toEqual([409, 'not_deleted']);
    expect((await stack.fetchJson(`/api/v1/files/${f.file_id}`, { method: 'DELETE', token: u.token })).status).toBe(200);
    const bin = await stack.fetchJson('/api/v1/files?deleted=true', { token: u.token });
    expect(bin.body.data.map((x: { file_id: string }) => x.file_id)).toEqual([f.file_id]);
    expect(bin.body.trash_retention_seconds).toBe(604800);

    const gone = await stack.fetchJson(`/api/v1/files/${f.file_id}?permanent=true`, { method: 'DELETE', token: u.token });
    expect(gone.status, JSON.stringify(gone.body)).toBe(200);
    expect(gone.body).toMatchObject({ success: true, file_id: f.file_id, restorable: false });
    expect((await stack.fetchJson('/api/v1/files?deleted=true', { token: u.token })).body.data).toEqual([]);
    const restore = await stack.fetchJson(`/api/v1/files/${f.file_id}/restore`, { method: 'POST', token: u.token });
    expect(restore.status).toBe(404);
    expect((await stack.fetchJson(`/api/v1/files/${f.file_id}?permanent=true`, { method: 'DELETE', token: u.token })).status).toBe(404);
    // The name is free, and the quota counts only what is live.
    expect((await upload(u, 'secret.txt', 'new')).version).toBe(1);
    const bad = await stack.fetchJson(`/api/v1/files/${f.file_id}?permanent=yes`, { method: 'DELETE', token: u.token });
    expect([bad.status, bad.body.error.field]).toEqual([400, 'permanent']);
  });

  it("another owner's file in the bin is not found", async () => {
    const a = await stack.register();
    const b = await stack.register();
    const f = await upload(a, 'mine.txt', 'm');
    await stack.fetchJson(`/api/v1/files/${f.file_id}`, { method: 'DELETE', token: a.token });
    expect((await stack.fetchJson(`/api/v1/files/${f.file_id}?permanent=true`, { method: 'DELETE', token: b.token })).status).toBe(404);
    expect((await stack.fetchJson('/api/v1/files?deleted=true', { token: a.token })).body.data).toHaveLength(1);
  });
});
