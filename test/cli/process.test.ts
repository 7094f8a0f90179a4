/**
 * The `echofs` command as a user runs it: a child process through bin/echofs.js. Exit codes for
 * each class of error, the token file, progress on a terminal and off one, and logout.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { cliBundle } from './bundle.js';
import { cliEnv, parseJson, prepareCli, runChild } from './helpers.js';

const execFileAsync = promisify(execFile);
let stack: TestStack;
let work: string;
let user: TestUser;
/** A signed-in client's environment. */
let env: NodeJS.ProcessEnv;

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Child processes and tens of MiB through the stack: minutes on a busy 2-core machine. */
const SLOW = 300_000;

beforeAll(async () => {
  [stack] = await Promise.all([startTestStack({}, { schedules: false }), prepareCli()]);
  work = await mkdtemp(join(tmpdir(), 'echofs-cli-proc-'));
  user = await stack.register();
  env = cliEnv(stack.url, join(work, 'signed-in'));
  const login = await runChild(['login', '--email', user.email, '--password-stdin'], env, { stdin: `${user.password}\n` });
  expect(login.code, login.stderr).toBe(0);
});

afterAll(async () => {
  await stack?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('echofs as a command', () => {
  it('answers --help and COMMAND --help with exit 0, documenting the exit codes', async () => {
    // bin/echofs.js as shipped (through tsx); every other run here spawns its bundle.
    const help = await runChild(['--help'], env, { source: true });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: echofs/);
    for (const c of ['login', 'logout', 'ls', 'put', 'get', 'rm', 'restore', 'versions', 'mode', 'status', 'critical-keys', 'override']) expect(help.stdout).toContain(`  ${c}`);
    expect(help.stdout).toMatch(/3 {2}auth/);
    expect(help.stdout).toMatch(/5 {2}unavailable/);
    const put = await runChild(['put', '--help'], env);
    expect(put.code).toBe(0);
    expect(put.stdout).toMatch(/Usage: echofs put \[options\] <path\.\.\.>/);
    expect(put.stdout).toContain('--name <name>');
  }, SLOW);

  it('keeps the token in a file only its owner can read (0600)', async () => {
    const file = join(work, 'signed-in', 'credentials.json');
    const st = await stat(file);
    expect(st.mode & 0o777).toBe(0o600);
    const saved = JSON.parse(await readFile(file, 'utf8')) as { servers: Record<string, { token: string; user: { email: string } }> };
    expect(saved.servers[stack.url]?.user.email).toBe(user.email);
    expect(JSON.stringify(saved)).not.toContain(user.password);
  }, SLOW);

  it('exits 2 for usage errors: no command, unknown command or option, missing argument, missing local path', async () => {
    expect((await runChild([], env)).code).toBe(2);
    const unknown = await runChild(['fly'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'fly'/);
    expect((await runChild(['ls', '--colour'], env)).code).toBe(2);
    expect((await runChild(['get'], env)).code).toBe(2);
    const missing = await runChild(['put', join(work, 'not-there.bin'), '--json'], env);
    expect(missing.code).toBe(2);
    expect(parseJson(missing)).toMatchObject({ ok: false, error: { kind: 'usage', exit_code: 2 } });
    expect((await runChild(['put', 'x', '--parallel', '0'], env)).code).toBe(2);
  }, SLOW);

  it('exits 3 for auth errors: not signed in, wrong password, a refused token, an admin-only action', async () => {
    const fresh = cliEnv(stack.url, join(work, 'nobody'));
    const notSignedIn = await runChild(['ls'], fresh);
    expect(notSignedIn.code).toBe(3);
    expect(notSignedIn.stderr).toMatch(/echofs login/);
    expect((await runChild(['login', '--email', user.email, '--password', 'wrong-password'], fresh)).code).toBe(3);
    expect((await runChild(['ls'], { ...fresh, ECHOFS_TOKEN: 'not-a-token' })).code).toBe(3);
    const admin = await runChild(['override', 'A', '--json'], env);
    expect(admin.code).toBe(3);
    expect(parseJson(admin)).toMatchObject({ ok: false, error: { kind: 'auth', status: 403, exit_code: 3 } });
  }, SLOW);

  it('exits 4 when the file, id or version does not exist', async () => {
    expect((await runChild(['get', 'no-such-name'], env)).code).toBe(4);
    expect((await runChild(['rm', '00000000-0000-4000-8000-000000000000'], env)).code).toBe(4);
    await writeFile(join(work, 'v.txt'), 'v1');
    expect((await runChild(['put', join(work, 'v.txt')], env)).code).toBe(0);
    expect((await runChild(['get', 'v.txt', join(work, 'v-back.txt'), '--version', '7'], env)).code).toBe(4);
  }, SLOW);

  it('exits 5 when the server cannot be reached', async () => {
    const port = await closedPort();
    const r = await runChild(['ls', '--json'], { ...env, ECHOFS_URL: `http://127.0.0.1:${port}`, ECHOFS_TOKEN: 'whatever' });
    expect(r.code).toBe(5);
    expect(parseJson(r)).toMatchObject({ ok: false, error: { kind: 'unavailable', exit_code: 5 } });
  }, SLOW);

  it('exits 1 when the server refuses the request (an If-Match that is not the current version)', async () => {
    await writeFile(join(work, 'cas.txt'), 'one');
    expect((await runChild(['put', join(work, 'cas.txt')], env)).code).toBe(0);
    await writeFile(join(work, 'cas.txt'), 'two');
    const r = await runChild(['put', join(work, 'cas.txt'), '--if-match', '5', '--json'], env);
    expect(r.code).toBe(1);
    expect(parseJson(r)).toMatchObject({ ok: false, error: { kind: 'failure', status: 412, exit_code: 1 } });
    expect((await runChild(['put', join(work, 'cas.txt'), '--if-match', '1'], env)).code).toBe(0);
  }, SLOW);

  it('prints plain progress lines when stderr is not a terminal, and a bar with speed and ETA on one', async () => {
    const file = join(work, 'progress.bin');
    await writeFile(file, randomBytes(3 * 1024 * 1024 + 5));
    const plain = await runChild(['put', file], env);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stderr).toMatch(/^echofs: put progress\.bin: 3\.0 MiB\/3\.0 MiB \(100%\) in /m);
    expect(plain.stderr).not.toContain('\u001b[');
    expect(plain.stdout).toMatch(/progress\.bin {2}3\.0 MiB {2}version 1/);

    // script(1) gives the child a terminal.
    const envList = Object.entries({ ...env, TERM: 'xterm' }).map(([k, v]) => `${k}=${String(v)}`);
    const command = ['env', ...envList.map((e) => `'${e}'`), `'${process.execPath}'`, `'${await cliBundle()}'`, 'get', 'progress.bin', `'${join(work, 'progress-back.bin')}'`].join(' ');
    const { stdout } = await execFileAsync('script', ['-qec', command, '/dev/null'], { cwd: work, timeout: 60_000 });
    expect(stdout).toMatch(/get \|[\u2588\u2591]+\| 100% 3\.0 MiB\/3\.0 MiB .*ETA/);
    expect(stdout).toMatch(/verified/);
  }, SLOW);

  it('logout signs out and forgets the token; a second logout is not an error', async () => {
    const own = cliEnv(stack.url, join(work, 'logout'));
    expect((await runChild(['login', '--email', user.email, '--password', user.password], own)).code).toBe(0);
    const out = await runChild(['logout', '--json'], own);
    expect(out.code, out.stderr).toBe(0);
    expect(parseJson(out)).toMatchObject({ ok: true, was_signed_in: true });
    await expect(stat(join(work, 'logout', 'credentials.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await runChild(['ls'], own)).code).toBe(3);
    const again = await runChild(['logout', '--json'], own);
    expect(again.code).toBe(0);
    expect(parseJson(again)).toMatchObject({ ok: true, was_signed_in: false, signed_out_on_server: false });
  }, SLOW);
});
