/**
 * `echofs`: the command-line client of EchoFS. It speaks only the public HTTP API, so it works the
 * same against `npm start` on a laptop and against a deployment.
 *
 * Results go to stdout (one JSON document with --json), progress and messages to stderr. The exit
 * code says what happened (see EXIT in errors.ts and `echofs --help`).
 */
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve, sep } from 'node:path';
import { Credentials, UploadStates, configDir, normaliseUrl } from './config.js';
import { CliError, EXIT, usage } from './errors.js';
import { formatBytes, mibPerSecond, shortTime, table } from './format.js';
import { fetchManifest, getFile, getToStream, STREAM_LIMIT } from './get.js';
import { Api } from './http.js';
import { createProgress, type ProgressStyle } from './progress.js';
import { putFiles, type LocalFile } from './put.js';
import { anyObject, fileAnswer, listAnswer, modeAnswer, profileAnswer, sessionAnswer, versionsAnswer, type FileItem } from './schemas.js';
import { readPassword } from './prompt.js';

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  /** stderr is a terminal: progress is drawn as a bar. */
  stderrIsTTY: boolean;
  cwd?: string;
}

export const DEFAULT_URL = 'http://localhost:8080';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const EXIT_HELP = `
Server: --url URL, else $ECHOFS_URL, else ${DEFAULT_URL}.
Sign-in tokens are kept per server in $ECHOFS_CONFIG_DIR/credentials.json (default
~/.config/echofs, mode 0600); $ECHOFS_TOKEN, when set, is used instead.

Exit codes:
  0  success
  1  failure: the server refused the request (400, 409, 412, 413…), a server error, or data
     that did not verify
  2  usage: unknown command or option, missing argument, a local path that does not exist
  3  auth: not signed in, token refused (401), wrong email or password, not allowed (403)
  4  not found: no such file, version or key (404)
  5  unavailable: the server cannot be reached or cannot serve now (timeout, 429, 502, 503, 504)
`;

interface GlobalOpts {
  url?: string;
  json?: boolean;
  quiet?: boolean;
  timeout?: number;
}

const positiveInt = (what: string, max = Number.MAX_SAFE_INTEGER) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`${what} must be a whole number from 1 to ${max}.`);
  return n;
};

function parseUrl(v: string): string {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    throw usage(`'${v}' is not a URL: give the server as http(s)://host[:port].`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw usage(`'${v}' is not an http(s) URL.`);
  return normaliseUrl(v);
}

/** Everything a command needs, built from the global options and the environment. */
class Session {
  readonly url: string;
  readonly json: boolean;
  readonly quiet: boolean;
  readonly credentials: Credentials;
  readonly states: UploadStates;
  readonly api: Api;
  readonly envToken: string | undefined;

  constructor(
    readonly io: Io,
    g: GlobalOpts,
  ) {
    this.url = parseUrl(g.url ?? io.env.ECHOFS_URL ?? DEFAULT_URL);
    this.json = g.json === true;
    this.quiet = g.quiet === true;
    const dir = configDir(io.env);
    this.credentials = new Credentials(dir);
    this.states = new UploadStates(dir);
    this.envToken = io.env.ECHOFS_TOKEN || undefined;
    this.api = new Api({ url: this.url, token: this.envToken, timeoutMs: (g.timeout ?? 120) * 1000 });
  }

  /** The API with this server's token (ECHOFS_TOKEN, or the saved login). */
  async signedIn(): Promise<{ api: Api; userId: () => Promise<string> }> {
    const saved = await this.credentials.get(this.url);
    if (!this.api.token) {
      if (!saved) throw new CliError('auth', `Not signed in to ${this.url}: run \`echofs login --email EMAIL\` first (or set ECHOFS_TOKEN).`);
      this.api.token = saved.token;
    }
    const api = this.api;
    // Whose uploads these are (the key of the resume state): asked of the server only for a token
    // that did not come from a login here.
    const userId = async () => (saved && saved.token === api.token ? saved.user.id : (await api.json('/api/v1/auth/profile', profileAnswer)).user.id);
    return { api, userId };
  }

  progressStyle(): ProgressStyle {
    const forced = this.io.env.ECHOFS_PROGRESS;
    if (this.json || this.quiet) return 'none';
    if (forced === 'bar' || forced === 'plain' || forced === 'none') return forced;
    return this.io.stderrIsTTY ? 'bar' : 'plain';
  }

  progress() {
    return createProgress(this.progressStyle(), this.io.stderr);
  }

  /** Print the result: `value` as JSON with --json, else the human text (if any). */
  out(value: Record<string, unknown>, human?: string): void {
    if (this.json) this.io.stdout.write(JSON.stringify({ ok: true, ...value }) + '\n');
    else if (human !== undefined && human !== '') this.io.stdout.write(human.endsWith('\n') ? human : human + '\n');
  }

  /** A message for the person (stderr), not shown with --json or --quiet. */
  say(line: string): void {
    if (!this.json && !this.quiet) this.io.stderr.write(line + '\n');
  }
}

// ---------------------------------------------------------------- file names and ids

async function listAll(api: Api, o: { deleted?: boolean; name?: string; pageSize?: number } = {}): Promise<FileItem[]> {
  const out: FileItem[] = [];
  let cursor: string | undefined;
  for (let page = 0; ; page++) {
    const r = await api.json('/api/v1/files', listAnswer, { query: { limit: o.pageSize, cursor, name: o.name, deleted: o.deleted ? 'true' : undefined } });
    out.push(...r.data);
    const next = r.next_cursor ?? undefined;
    if (!next || next === cursor || r.data.length === 0) return out;
    cursor = next;
  }
}

/** A file id, or the id of the one file (live, or in the bin) with this exact name. */
async function resolveFile(api: Api, nameOrId: string, o: { deleted?: boolean } = {}): Promise<{ id: string; name: string }> {
  if (UUID_RE.test(nameOrId)) return { id: nameOrId.toLowerCase(), name: nameOrId };
  const matches = (await listAll(api, { name: nameOrId, deleted: o.deleted })).filter((f) => f.name === nameOrId);
  if (matches.length === 0) {
    throw new CliError('notFound', o.deleted ? `No file named '${nameOrId}' in the bin (\`echofs ls --deleted\` lists it).` : `No file named '${nameOrId}' (\`echofs ls\` lists your files).`);
  }
  if (matches.length > 1) {
    throw usage(`${matches.length} files named '${nameOrId}' are in the bin: give the id of one (${matches.map((m) => m.file_id).join(', ')}).`);
  }
  const f = matches[0] as FileItem;
  return { id: f.file_id, name: f.name };
}

// ---------------------------------------------------------------- local paths

async function walk(dir: string): Promise<{ files: string[]; skipped: number }> {
  const files: string[] = [];
  let skipped = 0;
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const sub = await walk(p);
      files.push(...sub.files);
      skipped += sub.skipped;
    } else if (e.isFile()) files.push(p);
    else skipped++; // symbolic links, sockets, devices: not followed
  }
  return { files, skipped };
}

/**
 * The files a put sends and the names they get. A file keeps its name (or --name); a folder's
 * files are named by their path inside it, prefixed with the folder's name (or --name), with
 * `separator` where the path has a '/' (file names cannot hold one).
 */
export async function localFiles(paths: readonly string[], o: { name?: string; separator: string; cwd: string }): Promise<{ files: LocalFile[]; skipped: number }> {
  if (o.name !== undefined && paths.length > 1) throw usage('--name names one file or folder: give one PATH with it.');
  if (o.separator === '' || o.separator.includes('/')) throw usage("--separator must be a non-empty string without '/'.");
  const files: LocalFile[] = [];
  let skipped = 0;
  for (const p of paths) {
    const abs = resolve(o.cwd, p);
    const st = await stat(abs).catch((err: NodeJS.ErrnoException) => {
      throw usage(err.code === 'ENOENT' ? `${p}: no such file or folder.` : `${p}: ${err.message}`);
    });
    if (st.isFile()) {
      files.push({ path: abs, name: o.name ?? basename(abs), size: st.size, mtimeMs: st.mtimeMs });
    } else if (st.isDirectory()) {
      const found = await walk(abs);
      skipped += found.skipped;
      const prefix = o.name ?? basename(abs);
      for (const f of found.files) {
        const s = await stat(f);
        const rel = f.slice(abs.length + 1).split(sep).join(o.separator);
        files.push({ path: f, name: `${prefix}${o.separator}${rel}`, size: s.size, mtimeMs: s.mtimeMs });
      }
    } else {
      throw usage(`${p} is neither a file nor a folder.`);
    }
  }
  if (files.length === 0) throw usage(`Nothing to upload: ${paths.join(', ')} holds no files.`);
  const seen = new Map<string, string>();
  for (const f of files) {
    const other = seen.get(f.name);
    if (other !== undefined) throw usage(`${other} and ${f.path} would both be stored as '${f.name}': upload them separately with --name, or choose another --separator.`);
    seen.set(f.name, f.path);
  }
  return { files, skipped };
}

// ---------------------------------------------------------------- the program

const MODE_NAMES: Record<string, string> = { C: 'strong', H: 'hybrid', A: 'available' };

function fileRows(files: readonly FileItem[]): string {
  if (files.length === 0) return '';
  return table(
    ['NAME', 'SIZE', 'UPLOADED', 'VER', 'ID'],
    files.map((f) => [f.name, formatBytes(f.size), shortTime(f.uploaded), String(f.version ?? ''), f.file_id]),
    new Set([1]),
  );
}

export function buildProgram(io: Io): Command {
  const program = new Command('echofs');
  let session: Session | undefined;
  const ctx = (cmd: Command): Session => (session ??= new Session(io, cmd.optsWithGlobals<GlobalOpts>()));

  program
    .description('EchoFS command-line client: files, versions and the consistency controller, over the public HTTP API.')
    .version('0.1.0', '-V', 'output the version number')
    .option('--url <url>', `server URL (default: $ECHOFS_URL or ${DEFAULT_URL})`)
    .option('--json', 'print results as one JSON document on stdout (no progress)')
    .option('-q, --quiet', 'no progress and no messages on stderr')
    .addOption(new Option('--timeout <seconds>', 'per-request timeout').argParser(positiveInt('--timeout', 3600)).default(120))
    .addHelpText('after', EXIT_HELP)
    .showHelpAfterError('(run `echofs --help` or `echofs COMMAND --help` for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  // -------------------------------------------------------------- account

  program
    .command('login')
    .description('sign in and keep the token for this server')
    .requiredOption('--email <email>', 'account email')
    .option('--password <password>', 'password (else $ECHOFS_PASSWORD, --password-stdin, or a prompt)')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action(async (o: { email: string; password?: string; passwordStdin?: boolean }, cmd: Command) => {
      const s = ctx(cmd);
      const password = await readPassword(io, o);
      const r = await s.api.json('/api/v1/auth/login', sessionAnswer, { method: 'POST', json: { email: o.email, password }, auth: false });
      await s.credentials.save(s.url, { token: r.token, user: r.user });
      s.out({ url: s.url, user: r.user, credentials: s.credentials.path }, `Signed in to ${s.url} as ${r.user.email} (${r.user.role}).`);
    });

  program
    .command('register')
    .description('create an account, sign in and keep the token')
    .requiredOption('--email <email>', 'account email')
    .requiredOption('--username <name>', 'user name')
    .option('--password <password>', 'password (else $ECHOFS_PASSWORD, --password-stdin, or a prompt)')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action(async (o: { email: string; username: string; password?: string; passwordStdin?: boolean }, cmd: Command) => {
      const s = ctx(cmd);
      const password = await readPassword(io, o);
      const r = await s.api.json('/api/v1/auth/register', sessionAnswer, { method: 'POST', json: { username: o.username, email: o.email, password }, auth: false });
      await s.credentials.save(s.url, { token: r.token, user: r.user });
      s.out({ url: s.url, user: r.user, credentials: s.credentials.path }, `Created ${r.user.email} on ${s.url} and signed in.`);
    });

  program
    .command('logout')
    .description('sign out on the server (where it supports it) and forget the token')
    .action(async (_o: unknown, cmd: Command) => {
      const s = ctx(cmd);
      const saved = await s.credentials.get(s.url);
      let serverSignedOut = false;
      if (saved) {
        try {
          await s.api.request('/api/v1/auth/logout', { method: 'POST', headers: { Authorization: `Bearer ${saved.token}` }, auth: false });
          serverSignedOut = true;
        } catch (err) {
          // A server without a sign-out route (404/405), or a token it no longer takes (401): the
          // local token is forgotten all the same. Unreachable: forget it too, and say so.
          if (!(err instanceof CliError)) throw err;
          if (err.kind === 'unavailable') s.say(`echofs: could not reach ${s.url} to sign out there (${err.message}); the token is forgotten here.`);
        }
      }
      const removed = await s.credentials.remove(s.url);
      s.out({ url: s.url, was_signed_in: removed, signed_out_on_server: serverSignedOut }, removed ? `Signed out of ${s.url}.` : `Not signed in to ${s.url}.`);
    });

  program
    .command('whoami')
    .description('the signed-in user (GET /api/v1/auth/profile)')
    .action(async (_o: unknown, cmd: Command) => {
      const s = ctx(cmd);
      const { api } = await s.signedIn();
      const p = await api.json('/api/v1/auth/profile', profileAnswer);
      s.out({ url: s.url, user: p.user }, `${p.user.email} (${p.user.username}, ${p.user.role}) on ${s.url}`);
    });

  // -------------------------------------------------------------- files

  program
    .command('ls')
    .description('list your files (name order), or the bin with --deleted')
    .option('--deleted', 'list the bin (deleted files that can be restored)')
    .addOption(new Option('--page-size <n>', 'files per request').argParser(positiveInt('--page-size', 1000)).default(1000))
    .action(async (o: { deleted?: boolean; pageSize: number }, cmd: Command) => {
      const s = ctx(cmd);
      const { api } = await s.signedIn();
      const files = await listAll(api, { deleted: o.deleted, pageSize: o.pageSize });
      const total = files.reduce((n, f) => n + f.size, 0);
      s.out(
        { url: s.url, count: files.length, bytes: total, files },
        files.length === 0 ? (o.deleted ? 'The bin is empty.' : 'No files.') : `${fileRows(files)}\n${files.length} file(s), ${formatBytes(total)}`,
      );
    });

  program
    .command('put')
    .description('upload files and folders (parallel chunk uploads; an interrupted put resumes where it stopped)')
    .argument('<path...>', 'files or folders to upload')
    .option('--name <name>', 'store the file (or the folder’s files, as a prefix) under this name')
    .option('--separator <s>', "stands for '/' in the names of a folder's files", '__')
    .addOption(new Option('--parallel <n>', 'chunk uploads in flight').argParser(positiveInt('--parallel', 64)).default(4))
    .addOption(new Option('--if-match <version>', 'only replace the file if its current version is this one').argParser(positiveInt('--if-match')))
    .option('--content-type <type>', 'content type to record (default application/octet-stream)')
    .action(async (paths: string[], o: { name?: string; separator: string; parallel: number; ifMatch?: number; contentType?: string }, cmd: Command) => {
      const s = ctx(cmd);
      const { files, skipped } = await localFiles(paths, { name: o.name, separator: o.separator, cwd: io.cwd ?? process.cwd() });
      if (skipped > 0) s.say(`echofs: skipped ${skipped} entries that are neither files nor folders (links are not followed)`);
      const { api, userId } = await s.signedIn();
      const started = performance.now();
      const results = await putFiles(files, { api, userId: await userId(), states: s.states, progress: s.progress(), concurrency: o.parallel, ifMatch: o.ifMatch, contentType: o.contentType });
      const ms = performance.now() - started;
      const bytes = results.reduce((n, r) => n + r.size, 0);
      const lines = results.map(
        (r) => `${r.name}  ${formatBytes(r.size)}  version ${r.version ?? '?'}  ${r.file_id}  (${r.chunks_sent} of ${r.chunks} chunks sent${r.resumed ? ', resumed' : ''})`,
      );
      lines.push(`${results.length} file(s), ${formatBytes(bytes)} in ${(ms / 1000).toFixed(1)}s (${mibPerSecond(bytes, ms)} MiB/s, hashing included)`);
      s.out({ url: s.url, files: results, bytes, seconds: Math.round(ms) / 1000, mib_per_s: mibPerSecond(bytes, ms) }, lines.join('\n'));
    });

  program
    .command('get')
    .description('download a file (parallel, verified against its SHA-256, resumable); DEST "-" writes to stdout')
    .argument('<name-or-id>', 'file name or id')
    .argument('[dest]', 'file or folder to write to (default: the file name, here)')
    .addOption(new Option('--version <n>', 'an older version').argParser(positiveInt('--version')))
    .addOption(new Option('--parallel <n>', 'chunk downloads in flight').argParser(positiveInt('--parallel', 64)).default(4))
    .addOption(
      new Option('--presigned-above <bytes>', 'fetch files larger than this through presigned replica URLs (the streaming limit)')
        .argParser(positiveInt('--presigned-above'))
        .default(STREAM_LIMIT),
    )
    .action(async (nameOrId: string, dest: string | undefined, o: { version?: number; parallel: number; presignedAbove: number }, cmd: Command) => {
      const s = ctx(cmd);
      const { api } = await s.signedIn();
      const f = await resolveFile(api, nameOrId);
      const m = await fetchManifest(api, f.id, o.version);
      const gctx = { api, progress: s.progress(), concurrency: o.parallel, presignedAbove: o.presignedAbove };
      if (dest === '-') {
        if (s.json) throw usage('--json and DEST "-" both write to stdout: choose one.');
        await getToStream(m, io.stdout, gctx);
        return;
      }
      const target = await destination(resolve(io.cwd ?? process.cwd(), dest ?? m.name), dest, m.name);
      const r = await getFile(m, target, gctx);
      s.out({ url: s.url, ...r }, `${r.dest}  ${formatBytes(r.size)}  version ${r.version}  sha256 ${r.sha256.slice(0, 16)}… verified  (${r.seconds.toFixed(1)}s, ${r.mib_per_s} MiB/s${r.chunks_reused ? `, ${r.chunks_reused} chunks resumed` : ''})`);
    });

  program
    .command('rm')
    .description('delete a file (it goes to the bin: `echofs restore` brings it back)')
    .argument('<name-or-id>', 'file name or id')
    .action(async (nameOrId: string, _o: unknown, cmd: Command) => {
      const s = ctx(cmd);
      const { api } = await s.signedIn();
      const f = await resolveFile(api, nameOrId);
      const r = await api.json(`/api/v1/files/${encodeURIComponent(f.id)}`, anyObject, { method: 'DELETE' });
      s.out({ url: s.url, file_id: f.id, name: f.name, message: r.message }, `Deleted ${f.name} (in the bin: \`echofs restore ${f.id}\` brings it back).`);
    });

  program
    .command('restore')
    .description('bring a deleted file back from the bin')
    .argument('<name-or-id>', 'file name or id (in the bin)')
    .action(async (nameOrId: string, _o: unknown, cmd: Command) => {
      const s = ctx(cmd);
      const { api } = await s.signedIn();
      const f = await resolveFile(api, nameOrId, { deleted: true });
      const r = await api.json(`/api/v1/files/${encodeURIComponent(f.id)}/restore`, fileAnswer, { method: 'POST' });
      s.out({ url: s.url, file: r.data }, `Restored ${r.data.name} (${r.data.file_id}).`);
    });

  program
    .command('versions')
    .description("a file's versions, newest first")
    .argument('<name-or-id>', 'file name or id')
    .action(async (nameOrId: string, _o: unknown, cmd: Command) => {
      const s = ctx(cmd);
      const { api } = await s.signedIn();
      const f = await resolveFile(api, nameOrId);
      const r = await api.json(`/api/v1/files/${encodeURIComponent(f.id)}/versions`, versionsAnswer);
      const rows = r.data.versions.map((v) => [String(v.version) + (v.current ? '*' : ''), formatBytes(v.size), shortTime(v.uploaded), v.mode ?? '', v.sha256.slice(0, 16)]);
      s.out({ url: s.url, file_id: f.id, versions: r.data.versions }, `${table(['VERSION', 'SIZE', 'UPLOADED', 'MODE', 'SHA256'], rows, new Set([1]))}\n(* current)`);
    });

  // -------------------------------------------------------------- controller

  program
    .command('mode')
    .description('the consistency mode a write would get now (GET /v1/mode): for a file, a key, or globally')
    .argument('[object]', 'file name or id, or any key (default: the global mode)')
    .action(async (object: string | undefined, _o: unknown, cmd: Command) => {
      const s = ctx(cmd);
      const { api } = await s.signedIn();
      let objectId = object;
      if (object !== undefined && !UUID_RE.test(object)) {
        // One of my files by name: the controller knows files by id. Anything else is a key as given.
        objectId = await resolveFile(api, object).then((f) => f.id, (err: unknown) => {
          if (err instanceof CliError && err.kind === 'notFound') return object;
          throw err;
        });
      }
      const r = await api.json('/v1/mode', modeAnswer, { query: { object_id: objectId } });
      s.out({ url: s.url, ...r }, `${r.mode} (${MODE_NAMES[r.mode] ?? r.mode})  ${r.reason}${r.object_id ? `  [${r.object_id}]` : ''}`);
    });

  program
    .command('hint')
    .description('ask for a stronger or more available mode for one of your files (POST /v1/hint)')
    .argument('<name-or-id>', 'file name or id')
    .addArgument(new Argument('<hint>', 'strong, available or none (back to the controller)').choices(['strong', 'available', 'none']))
    .action(async (nameOrId: string, hint: string, _o: unknown, cmd: Command) => {
      const s = ctx(cmd);
      const { api } = await s.signedIn();
      const f = await resolveFile(api, nameOrId);
      const r = await api.json('/v1/hint', anyObject, { method: 'POST', json: { object_id: f.id, hint } });
      s.out({ url: s.url, ...r }, `Hint '${hint}' set for ${f.name}; its mode is now ${String(r.mode ?? '?')}.`);
    });

  program
    .command('status')
    .description('the controller: mode, score, replicas, replication backlog (GET /v1/status)')
    .action(async (_o: unknown, cmd: Command) => {
      const s = ctx(cmd);
      const { api } = await s.signedIn();
      const r = await api.json('/v1/status', anyObject);
      s.out({ url: s.url, status: r }, statusText(r));
    });

  program
    .command('health')
    .description('health of the catalog, the replicas and the controller store (GET /api/v1/health; no sign-in)')
    .action(async (_o: unknown, cmd: Command) => {
      const s = ctx(cmd);
      // A 503 (the catalog is down) exits as unavailable with the server's message.
      const r = await s.api.json('/api/v1/health', anyObject, { auth: false });
      const replicas = (r.replicas ?? {}) as Record<string, { ok?: boolean; latencyMs?: number }>;
      s.out(
        { url: s.url, health: r },
        `status ${String(r.status)}\n${Object.entries(replicas)
          .map(([k, v]) => `  ${k}: ${v.ok ? 'up' : 'DOWN'}${v.latencyMs !== undefined ? ` ${v.latencyMs} ms` : ''}`)
          .join('\n')}`,
      );
    });

  program
    .command('critical-keys')
    .description('keys (file ids, names, prefixes ending in *) that are always written strong; add and rm need an admin')
    .argument('[action]', 'list (default), add or rm')
    .argument('[key]', 'the key to add or remove')
    .action(async (action: string | undefined, key: string | undefined, _o: unknown, cmd: Command) => {
      const s = ctx(cmd);
      const act = action ?? 'list';
      if (!['list', 'add', 'rm'].includes(act)) throw usage(`Unknown action '${act}': use list, add KEY or rm KEY.`);
      if (act !== 'list' && !key) throw usage(`critical-keys ${act} needs a KEY.`);
      const { api } = await s.signedIn();
      if (act === 'add') {
        await api.json('/v1/critical-keys', anyObject, { method: 'POST', json: { key } });
        s.out({ url: s.url, key, added: true }, `${key} is a critical key: always strong.`);
      } else if (act === 'rm') {
        await api.json('/v1/critical-keys', anyObject, { method: 'DELETE', query: { key } });
        s.out({ url: s.url, key, removed: true }, `${key} is no longer a critical key.`);
      } else {
        const r = await api.json('/v1/critical-keys', anyObject);
        const keys = Array.isArray(r.critical_keys) ? (r.critical_keys as string[]) : [];
        s.out({ url: s.url, critical_keys: keys, items: r.items ?? [] }, keys.length ? keys.join('\n') : 'No critical keys.');
      }
    });

  program
    .command('override')
    .description('force a mode globally or for one object, or clear it (admin); no MODE shows the global override')
    .argument('[mode]', 'C|H|A (or strong, hybrid, available)')
    .option('--object <id>', 'only for this object (file id or key)')
    .option('--clear', 'remove the override')
    .action(async (mode: string | undefined, o: { object?: string; clear?: boolean }, cmd: Command) => {
      const s = ctx(cmd);
      if (mode !== undefined && o.clear) throw usage('Give a MODE or --clear, not both.');
      const { api } = await s.signedIn();
      if (o.clear) {
        const r = await api.json('/v1/override', anyObject, { method: 'DELETE', query: { object_id: o.object } });
        s.out({ url: s.url, ...r }, o.object ? `Override of ${o.object} cleared.` : 'Global override cleared: the controller decides again.');
      } else if (mode !== undefined) {
        const r = await api.json('/v1/override', anyObject, { method: 'POST', json: { mode, ...(o.object ? { object_id: o.object } : {}) } });
        s.out({ url: s.url, ...r }, `${o.object ? o.object : 'Global'} override: ${String(r.mode)} (${MODE_NAMES[String(r.mode)] ?? ''}).`);
      } else {
        const r = await api.json('/v1/status', anyObject);
        const g = (r.global_override as string | null | undefined) ?? null;
        s.out({ url: s.url, global_override: g, object_overrides: r.object_overrides ?? null }, g ? `Global override: ${g} (${MODE_NAMES[g] ?? g}).` : 'No global override: the controller decides.');
      }
    });

  return program;
}

/** A DEST that is a folder (existing, or written with a trailing slash) receives the file by its name. */
async function destination(abs: string, given: string | undefined, name: string): Promise<string> {
  if (given === undefined) return abs;
  const isDir = given.endsWith('/') || given.endsWith(sep) || (await stat(abs).then((s) => s.isDirectory(), () => false));
  if (!isDir) return abs;
  const dirOk = await stat(abs).then((s) => s.isDirectory(), () => false);
  if (!dirOk) throw usage(`${given}: no such folder.`);
  if (name.includes('/') || name === '.' || name === '..') throw usage(`The file's name '${name}' cannot be used as a local file name: give DEST as a file path.`);
  return join(abs, name);
}

function statusText(r: Record<string, unknown>): string {
  const mode = String(r.mode ?? '?');
  const lines = [`mode     ${mode} (${MODE_NAMES[mode] ?? mode})${typeof r.score === 'number' ? `  score ${r.score.toFixed(2)}` : ''}  override ${String(r.global_override ?? 'none')}`];
  const replicas = Array.isArray(r.replicas) ? (r.replicas as { region: string; reachable: boolean; latency_ewma_ms?: number | null }[]) : [];
  for (const x of replicas) lines.push(`replica  ${x.region}  ${x.reachable ? 'up' : 'DOWN'}${x.latency_ewma_ms != null ? `  ${x.latency_ewma_ms} ms` : ''}`);
  const b = (r.backlog ?? {}) as { pending?: number; missing?: number };
  lines.push(`backlog  ${b.pending ?? 0} pending, ${b.missing ?? 0} missing, lag ${((Number(r.replication_lag_ms ?? 0) || 0) / 1000).toFixed(1)}s`);
  return lines.join('\n');
}

/** Run the client with `argv` (without node and the script); resolves to the exit code. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  const json = argv.includes('--json');
  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return EXIT.usage;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return EXIT.ok;
      if (json) io.stdout.write(JSON.stringify({ ok: false, error: { kind: 'usage', code: err.code, message: err.message, exit_code: EXIT.usage } }) + '\n');
      return EXIT.usage;
    }
    const e = err instanceof CliError ? err : unexpected(err);
    if (json) {
      const error = { kind: e.kind, code: e.details.code ?? null, status: e.details.status ?? null, message: e.hint ? `${e.message} ${e.hint}` : e.message, exit_code: e.exitCode, request_id: e.details.requestId ?? null };
      io.stdout.write(JSON.stringify({ ok: false, error }) + '\n');
    } else {
      const id = e.details.requestId && e.kind === 'failure' ? ` (request id ${e.details.requestId})` : '';
      io.stderr.write(`echofs: ${e.message}${id}${e.hint ? ` ${e.hint}` : ''}\n`);
    }
    return e.exitCode;
  }
}

/** An error of the machine (a disk, a permission), not of the server: a failure with its message. */
function unexpected(err: unknown): CliError {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string' && typeof e.message === 'string') return new CliError('failure', e.message);
  return new CliError('failure', `Unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(err)}`);
}

