/**
 * An `echofs put` killed in the middle (SIGKILL: no chance to clean up) and run again sends only
 * the chunks the server lacks; a `get` killed in the middle fetches only the rest. A counting proxy
 * between the client and the stack sees every chunk request, which is the proof.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { cliEnv, CountingProxy, parseJson, prepareCli, runChild, spawnCli, waitFor } from './helpers.js';

const MiB = 1024 * 1024;
let stack: TestStack;
let proxy: CountingProxy;
let work: string;
let user: TestUser;
let env: NodeJS.ProcessEnv;

/** Child processes and tens of MiB through the stack: minutes on a busy 2-core machine. */
const SLOW = 300_000;

beforeAll(async () => {
  [stack] = await Promise.all([startTestStack({}, { schedules: false }), prepareCli()]);
  proxy = new CountingProxy(stack.url);
  await proxy.start();
  work = await mkdtemp(join(tmpdir(), 'echofs-cli-resume-'));
  user = await stack.register();
  env = cliEnv(proxy.url, join(work, 'config'));
  const login = await runChild(['login', '--email', user.email, '--password', user.password], env);
  expect(login.code, login.stderr).toBe(0);
});

afterAll(async () => {
  await proxy?.stop();
  await stack?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('echofs resumes', () => {
  it('a put killed after some chunks, run again, sends exactly the chunks the server lacks', async () => {
    const data = randomBytes(30 * MiB);
    const file = join(work, 'big.bin');
    await writeFile(file, data);
    const allHashes = Array.from({ length: 30 }, (_, i) => createHash('sha256').update(data.subarray(i * MiB, (i + 1) * MiB)).digest('hex'));

    // Run 1: killed once 8 chunk PUTs have been answered.
    proxy.reset();
    const first = spawnCli(['put', file, '--parallel', '2'], env);
    proxy.onResponse = () => {
      if (proxy.chunkPuts({ ok: true }).length >= 8) first.child.kill('SIGKILL');
    };
    const killed = await first.done;
    proxy.onResponse = undefined;
    expect(killed.signal).toBe('SIGKILL');
    // Chunks the killed client had sent still land on the server: wait for them.
    await proxy.idle();
    const storedInRun1 = new Set(proxy.chunkPuts({ ok: true }));
    expect(storedInRun1.size).toBeGreaterThanOrEqual(8);
    expect(storedInRun1.size).toBeLessThan(30);

    // The state file the interrupted run left names its session; the server says what it lacks.
    const states = await readdir(join(work, 'config', 'uploads'));
    expect(states).toHaveLength(1);
    const state = JSON.parse(await readFile(join(work, 'config', 'uploads', states[0] as string), 'utf8')) as { upload_id: string; chunks: { hash: string }[] };
    expect(state.chunks.map((c) => c.hash)).toEqual(allHashes);
    const session = await stack.fetchJson(`/api/v1/uploads/${state.upload_id}`, { token: user.token });
    const missing = new Set<string>(session.body.data.missing);
    expect(missing.size).toBeGreaterThan(0);
    for (const h of storedInRun1) expect(missing.has(h), `chunk ${h.slice(0, 8)} was stored in run 1`).toBe(false);

    // Run 2: resumes the same session and sends only what is missing, each chunk once.
    proxy.reset();
    const second = await runChild(['put', file, '--json'], env);
    expect(second.code, second.stderr).toBe(0);
    // Every chunk PUT was for a missing chunk, and each missing chunk was stored once (a PUT the
    // server answered with an error, say a 503 under load, may be retried: it stored nothing).
    const stored = proxy.chunkPuts({ ok: true });
    expect(new Set(stored).size, second.stderr).toBe(stored.length);
    expect(new Set(stored)).toEqual(missing);
    for (const h of proxy.chunkPuts()) expect(missing.has(h), `chunk ${h.slice(0, 8)} was not missing`).toBe(true);
    expect(proxy.seen.some((r) => r.method === 'POST' && r.path === '/api/v1/uploads')).toBe(false); // the saved session, not a new one
    const out = parseJson<{ files: { file_id: string; chunks_sent: number; resumed: boolean; chunks_already_stored: number }[] }>(second);
    expect(out.files[0]).toMatchObject({ resumed: true, chunks_sent: missing.size, chunks_already_stored: 30 - missing.size });
    expect(missing.size).toBeLessThan(30);
    // The state file is gone once committed.
    expect(await readdir(join(work, 'config', 'uploads'))).toHaveLength(0);

    const back = join(work, 'big-back.bin');
    const get = await runChild(['get', 'big.bin', back], env);
    expect(get.code, get.stderr).toBe(0);
    expect((await readFile(back)).equals(data)).toBe(true);
  }, SLOW);

  it('a get killed after some chunks, run again, fetches only the rest and verifies the whole file', async () => {
    const data = randomBytes(20 * MiB + 123);
    const file = join(work, 'down.bin');
    await writeFile(file, data);
    expect((await runChild(['put', file], env)).code).toBe(0);
    const dest = join(work, 'down-back.bin');
    const isRange = (r: { method: string; path: string }) => r.method === 'GET' && /\/download$/.test(r.path);

    // Run 1: killed once 6 chunks are in the partial file (the journal says so).
    proxy.reset();
    const first = spawnCli(['get', 'down.bin', dest, '--parallel', '2'], env);
    const journalPath = `${dest}.echofs-part.json`;
    await waitFor(async () => (await readFile(journalPath, 'utf8').catch(() => '')).trim().split('\n').length > 6, 'six chunks in the journal');
    first.child.kill('SIGKILL');
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');
    await proxy.idle();
    await expect(stat(dest)).rejects.toMatchObject({ code: 'ENOENT' }); // nothing under the final name yet
    const journal = new Set((await readFile(journalPath, 'utf8')).trim().split('\n').slice(1).map(Number));
    expect(journal.size).toBeGreaterThanOrEqual(6);
    expect(journal.size).toBeLessThan(21);

    proxy.reset();
    const second = await runChild(['get', 'down.bin', dest, '--json'], env);
    expect(second.code, second.stderr).toBe(0);
    const out = parseJson<{ chunks: number; chunks_fetched: number; chunks_reused: number; verified: boolean }>(second);
    expect(out.chunks).toBe(21);
    expect(out.chunks_reused).toBe(journal.size);
    expect(out.chunks_fetched).toBe(21 - journal.size);
    // The ranges asked for cover exactly the chunks the journal lacked.
    const covered = new Set<number>();
    for (const r of proxy.seen.filter((x) => isRange(x) && x.status === 206)) {
      const [a, b] = (/^bytes=(\d+)-(\d+)$/.exec(r.range ?? '') ?? []).slice(1).map(Number);
      expect(a, r.range).toBeDefined();
      for (let i = Math.floor((a as number) / MiB); i <= Math.floor((b as number) / MiB); i++) covered.add(i);
    }
    expect([...covered].sort((x, y) => x - y)).toEqual(Array.from({ length: 21 }, (_, i) => i).filter((i) => !journal.has(i)));
    expect((await readFile(dest)).equals(data)).toBe(true);
    await expect(stat(`${dest}.echofs-part.json`)).rejects.toMatchObject({ code: 'ENOENT' });
  }, SLOW);
});
