/**
 * The `echofs` client against the in-process local stack, run in-process for speed: byte-exact
 * put/get round trips, folder uploads, the --json shapes scripts rely on, and the bin.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { cliEnv, parseJson, runHere } from './helpers.js';

const MiB = 1024 * 1024;
let stack: TestStack;
let work: string;
let env: NodeJS.ProcessEnv;
let user: TestUser;

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Child processes and tens of MiB through the stack: minutes on a busy 2-core machine. */
const SLOW = 300_000;

beforeAll(async () => {
  stack = await startTestStack({}, { schedules: false });
  work = await mkdtemp(join(tmpdir(), 'echofs-cli-'));
  env = cliEnv(stack.url, join(work, 'config'), { ECHOFS_PROGRESS: 'none' });
  user = await stack.register();
  const login = await runHere(['login', '--email', user.email, '--password', user.password], env);
  expect(login.code, login.stderr).toBe(0);
});

afterAll(async () => {
  await stack?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('echofs put and get', () => {
  it.each([
    ['0 B', 0],
    ['1 MiB + 1 B', MiB + 1],
    ['30 MiB', 30 * MiB],
  ])('round-trips %s byte-exactly, verified against the SHA-256', async (label, size) => {
    const data = randomBytes(size);
    const name = `rt-${size}.bin`;
    const src = join(work, name);
    await writeFile(src, data);
    const put = await runHere(['put', src, '--json'], env, work);
    expect(put.code, put.stderr).toBe(0);
    const p = parseJson<{ files: { file_id: string; name: string; size: number; sha256: string; chunks: number; chunks_sent: number }[] }>(put);
    expect(p.files).toHaveLength(1);
    expect(p.files[0]).toMatchObject({ name, size, sha256: sha(data), chunks: Math.ceil(size / MiB), chunks_sent: Math.ceil(size / MiB) });

    const dest = join(work, `back-${label.replace(/\W+/g, '_')}.bin`);
    const get = await runHere(['get', name, dest, '--json'], env, work);
    expect(get.code, get.stderr).toBe(0);
    const g = parseJson<{ dest: string; size: number; sha256: string; verified: boolean; chunks_fetched: number }>(get);
    expect(g).toMatchObject({ dest, size, sha256: sha(data), verified: true, chunks_fetched: Math.ceil(size / MiB) });
    const back = await readFile(dest);
    expect(back.length).toBe(size);
    expect(back.equals(data)).toBe(true);
    // Nothing of the partial download is left behind.
    await expect(stat(`${dest}.echofs-part`)).rejects.toMatchObject({ code: 'ENOENT' });
  }, SLOW);

  it('sends no chunk the server already holds (same content under another name)', async () => {
    const data = randomBytes(3 * MiB);
    await writeFile(join(work, 'dup-a.bin'), data);
    await writeFile(join(work, 'dup-b.bin'), data);
    expect((await runHere(['put', 'dup-a.bin'], env, work)).code).toBe(0);
    const second = parseJson<{ files: { chunks_sent: number; chunks_already_stored: number }[] }>(await runHere(['put', 'dup-b.bin', '--json'], env, work));
    expect(second.files[0]).toMatchObject({ chunks_sent: 0, chunks_already_stored: 3 });
  }, SLOW);

  it('uploads a folder: every file, named by its path with the separator, each byte-exact', async () => {
    const root = join(work, 'photos');
    await mkdir(join(root, '2024', 'summer'), { recursive: true });
    const files: Record<string, Buffer> = {
      'a.jpg': randomBytes(1000),
      '2024/b.jpg': randomBytes(MiB + 7),
      '2024/summer/c.jpg': randomBytes(10),
      'empty.txt': Buffer.alloc(0),
    };
    for (const [rel, data] of Object.entries(files)) await writeFile(join(root, rel), data);
    const put = await runHere(['put', 'photos', '--json'], env, work);
    expect(put.code, put.stderr).toBe(0);
    const names = parseJson<{ files: { name: string; size: number }[] }>(put).files.map((f) => f.name).sort();
    expect(names).toEqual(['photos__2024__b.jpg', 'photos__2024__summer__c.jpg', 'photos__a.jpg', 'photos__empty.txt']);

    for (const [rel, data] of Object.entries(files)) {
      const name = `photos__${rel.split('/').join('__')}`;
      const dest = join(work, `folder-back-${name}`);
      const get = await runHere(['get', name, dest], env, work);
      expect(get.code, get.stderr).toBe(0);
      expect((await readFile(dest)).equals(data), name).toBe(true);
    }

    // --name replaces the folder's name as the prefix; --separator the '/'.
    const again = await runHere(['put', 'photos', '--name', 'trip', '--separator', '~', '--json'], env, work);
    expect(parseJson<{ files: { name: string }[] }>(again).files.map((f) => f.name).sort()).toEqual(['trip~2024~b.jpg', 'trip~2024~summer~c.jpg', 'trip~a.jpg', 'trip~empty.txt']);
  }, SLOW);

  it('writes into a folder given as DEST under the file name, and to stdout with DEST "-"', async () => {
    const data = randomBytes(2 * MiB + 3);
    await writeFile(join(work, 'to-folder.bin'), data);
    expect((await runHere(['put', 'to-folder.bin'], env, work)).code).toBe(0);
    const outDir = join(work, 'out');
    await mkdir(outDir);
    expect((await runHere(['get', 'to-folder.bin', outDir], env, work)).code).toBe(0);
    expect((await readFile(join(outDir, 'to-folder.bin'))).equals(data)).toBe(true);
    const piped = await runHere(['get', 'to-folder.bin', '-'], env, work);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdoutBytes.equals(data)).toBe(true);
  }, SLOW);
});

describe('echofs get above the streaming limit', () => {
  it('fetches the chunks through the presigned replica URLs of the manifest, verified', async () => {
    const data = randomBytes(3 * MiB + 5);
    await writeFile(join(work, 'presigned.bin'), data);
    expect((await runHere(['put', 'presigned.bin'], env, work)).code).toBe(0);
    const replicaGets: string[] = [];
    const realFetch = globalThis.fetch;
    const spy = vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if (!url.startsWith(stack.url)) replicaGets.push(url);
      return realFetch(input, init);
    });
    try {
      const get = await runHere(['get', 'presigned.bin', join(work, 'presigned-back.bin'), '--presigned-above', '1', '--json'], env, work);
      expect(get.code, get.stderr).toBe(0);
      expect(parseJson(get)).toMatchObject({ source: 'presigned', verified: true, chunks_fetched: 4 });
    } finally {
      spy.mockRestore();
    }
    expect(replicaGets).toHaveLength(4);
    expect(replicaGets.every((u) => /X-Amz-Signature=/.test(u))).toBe(true);
    expect((await readFile(join(work, 'presigned-back.bin'))).equals(data)).toBe(true);
  }, SLOW);

  it('falls back to the API for a chunk whose presigned URL fails or returns other bytes', async () => {
    const data = randomBytes(2 * MiB + 9);
    await writeFile(join(work, 'fallback.bin'), data);
    expect((await runHere(['put', 'fallback.bin'], env, work)).code).toBe(0);
    const realFetch = globalThis.fetch;
    let replicaCalls = 0;
    const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
      const url = String(input instanceof Request ? input.url : input);
      if (url.startsWith(stack.url)) return realFetch(input, init);
      replicaCalls++;
      // The first chunk's replica is unreachable; the others answer with a corrupt copy.
      if (replicaCalls === 1) throw new TypeError('fetch failed');
      return new Response(new Uint8Array([0, 1, 2, 3]), { status: 200 });
    });
    let get;
    try {
      get = await runHere(['get', 'fallback.bin', join(work, 'fallback-back.bin'), '--presigned-above', '1', '--json'], env, work);
    } finally {
      spy.mockRestore();
    }
    expect(get.code, get.stderr).toBe(0);
    expect(replicaCalls).toBe(3);
    expect((await readFile(join(work, 'fallback-back.bin'))).equals(data)).toBe(true);
  }, SLOW);
});

describe('echofs --json shapes', () => {
  it('ls: {ok, url, count, bytes, files: [{file_id, name, size, uploaded, chunks, version, sha256…}]}', async () => {
    const data = randomBytes(5000);
    await writeFile(join(work, 'shape.bin'), data);
    expect((await runHere(['put', 'shape.bin'], env, work)).code).toBe(0);
    const ls = parseJson<{ ok: boolean; url: string; count: number; bytes: number; files: Record<string, unknown>[] }>(await runHere(['ls', '--json'], env));
    expect(ls.ok).toBe(true);
    expect(ls.url).toBe(stack.url);
    expect(ls.count).toBe(ls.files.length);
    expect(ls.bytes).toBe(ls.files.reduce((n, f) => n + (f.size as number), 0));
    const f = ls.files.find((x) => x.name === 'shape.bin');
    expect(f).toMatchObject({ name: 'shape.bin', size: 5000, chunks: 1, version: 1, sha256: sha(data) });
    expect(typeof f?.file_id).toBe('string');
    expect(Number.isNaN(Date.parse(String(f?.uploaded)))).toBe(false);
    // Name order, as the server lists.
    const names = ls.files.map((x) => x.name as string);
    expect(names).toEqual([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  }, SLOW);

  it('whoami, versions, rm, ls --deleted and restore answer in their documented shapes', async () => {
    await writeFile(join(work, 'life.txt'), 'one');
    expect((await runHere(['put', 'life.txt'], env, work)).code).toBe(0);
    await writeFile(join(work, 'life.txt'), 'two!');
    expect((await runHere(['put', 'life.txt'], env, work)).code).toBe(0);

    const who = parseJson<{ user: Record<string, unknown> }>(await runHere(['whoami', '--json'], env));
    expect(who.user).toEqual({ id: user.user.id, username: user.username, email: user.email, role: 'user' });

    const versions = parseJson<{ file_id: string; versions: { version: number; size: number; current: boolean }[] }>(await runHere(['versions', 'life.txt', '--json'], env));
    expect(versions.versions.map((v) => [v.version, v.size, v.current])).toEqual([
      [2, 4, true],
      [1, 3, false],
    ]);

    const removed = parseJson<{ file_id: string; name: string; message: string }>(await runHere(['rm', 'life.txt', '--json'], env));
    expect(removed).toMatchObject({ file_id: versions.file_id, name: 'life.txt', message: 'File deleted successfully' });
    const bin = parseJson<{ files: { name: string }[] }>(await runHere(['ls', '--deleted', '--json'], env));
    expect(bin.files.map((f) => f.name)).toContain('life.txt');
    const gone = await runHere(['get', 'life.txt', join(work, 'x'), '--json'], env);
    expect(gone.code).toBe(4);

    const restored = parseJson<{ file: { file_id: string; name: string; version: number } }>(await runHere(['restore', 'life.txt', '--json'], env));
    expect(restored.file).toMatchObject({ file_id: versions.file_id, name: 'life.txt', version: 2 });
    const old = await runHere(['get', 'life.txt', join(work, 'life-v1.txt'), '--version', '1'], env);
    expect(old.code, old.stderr).toBe(0);
    expect(await readFile(join(work, 'life-v1.txt'), 'utf8')).toBe('one');
  }, SLOW);

  it('mode, status and an error answer with --json', async () => {
    const mode = parseJson<{ object_id: string | null; mode: string; reason: string; timestamp: string }>(await runHere(['mode', 'shape.bin', '--json'], env));
    expect(['C', 'H', 'A']).toContain(mode.mode);
    expect(mode.object_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof mode.reason).toBe('string');
    const status = parseJson<{ status: { mode: string; replicas: unknown[] } }>(await runHere(['status', '--json'], env));
    expect(status.status.replicas).toHaveLength(3);
    const err = await runHere(['get', 'no-such-file', '--json'], env);
    expect(err.code).toBe(4);
    expect(parseJson(err)).toEqual({ ok: false, error: { kind: 'notFound', code: null, status: null, message: expect.stringContaining('no-such-file'), exit_code: 4, request_id: null } });
  }, SLOW);
});
