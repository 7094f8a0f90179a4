/**
 * Where the client keeps what outlives one command: the sign-in token of each server (a file only
 * its owner can read, 0600) and the state of uploads in progress (to resume them).
 *
 *   $ECHOFS_CONFIG_DIR, else $XDG_CONFIG_HOME/echofs, else ~/.config/echofs (%APPDATA%\echofs on Windows)
 *     credentials.json    { servers: { "<url>": { token, user, saved_at } } }   mode 0600
 *     uploads/<key>.json  one file per interrupted upload
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface SavedUser {
  id: string;
  username: string;
  email: string;
  role: string;
}

export interface SavedLogin {
  token: string;
  user: SavedUser;
  saved_at: string;
}

interface CredentialsFile {
  servers: Record<string, SavedLogin>;
}

export function configDir(env: NodeJS.ProcessEnv): string {
  if (env.ECHOFS_CONFIG_DIR) return env.ECHOFS_CONFIG_DIR;
  if (process.platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'echofs');
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'echofs');
}

/** A server URL as the key of its saved login: no trailing slash, lower-case scheme and host. */
export function normaliseUrl(url: string): string {
  const u = new URL(url);
  const path = u.pathname.replace(/\/+$/, '');
  return `${u.protocol}//${u.host}${path}`;
}

/** Write a file readable by its owner only (0600), atomically: a reader sees the old or the new content. */
export async function writePrivate(path: string, content: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, content, { mode: 0o600 });
  // The mode given to writeFile is masked by the umask: set it exactly.
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

async function readJson<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

export class Credentials {
  readonly path: string;

  constructor(readonly dir: string) {
    this.path = join(dir, 'credentials.json');
  }

  private async load(): Promise<CredentialsFile> {
    const f = await readJson<CredentialsFile>(this.path);
    return f && typeof f.servers === 'object' && f.servers !== null ? f : { servers: {} };
  }

  async get(url: string): Promise<SavedLogin | undefined> {
    return (await this.load()).servers[normaliseUrl(url)];
  }

  async save(url: string, login: Omit<SavedLogin, 'saved_at'>): Promise<void> {
    const f = await this.load();
    f.servers[normaliseUrl(url)] = { ...login, saved_at: new Date().toISOString() };
    await writePrivate(this.path, JSON.stringify(f, null, 2) + '\n');
  }

  /** Forget the login for this server; true when there was one. */
  async remove(url: string): Promise<boolean> {
    const f = await this.load();
    const key = normaliseUrl(url);
    if (!f.servers[key]) return false;
    delete f.servers[key];
    if (Object.keys(f.servers).length === 0) await rm(this.path, { force: true });
    else await writePrivate(this.path, JSON.stringify(f, null, 2) + '\n');
    return true;
  }
}

// ---------------------------------------------------------------- upload state

export interface UploadState {
  v: 1;
  url: string;
  user_id: string;
  path: string;
  name: string;
  size: number;
  mtime_ms: number;
  sha256: string;
  chunks: { hash: string; size: number }[];
  upload_id?: string;
  updated_at: string;
}

/** The state files of interrupted uploads, one per (server, user, local path, name). */
export class UploadStates {
  constructor(readonly dir: string) {}

  pathFor(key: { url: string; userId: string; path: string; name: string }): string {
    const id = createHash('sha256').update(JSON.stringify([normaliseUrl(key.url), key.userId, key.path, key.name])).digest('hex').slice(0, 32);
    return join(this.dir, 'uploads', `${id}.json`);
  }

  async load(key: { url: string; userId: string; path: string; name: string }): Promise<UploadState | undefined> {
    const s = await readJson<UploadState>(this.pathFor(key));
    return s && s.v === 1 && Array.isArray(s.chunks) ? s : undefined;
  }

  async save(state: UploadState): Promise<void> {
    await writePrivate(this.pathFor({ url: state.url, userId: state.user_id, path: state.path, name: state.name }), JSON.stringify(state) + '\n');
  }

  async remove(key: { url: string; userId: string; path: string; name: string }): Promise<void> {
    await rm(this.pathFor(key), { force: true });
  }
}
