/**
 * Running the `echofs` client in tests: as a child process (for exit codes, terminals and signals)
 * on the launcher bundled once (./bundle.ts: bin/echofs.js and the client as one ES module) or on
 * bin/echofs.js itself through tsx, or in-process through `run` (for speed), with its own config
 * dir. And a counting HTTP proxy that sits between the client and the stack, to see which
 * requests the client really sends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { run } from '../../cli/main.js';
import { waitFor } from '../helpers/wait.js';
import { cliBundle } from './bundle.js';

export { waitFor };

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const LAUNCHER = join(REPO, 'bin', 'echofs.js');

let bundled: string | undefined;

/** Build (or find cached) the bundled launcher that `spawnCli` and `runChild` run; call it in `beforeAll`. */
export async function prepareCli(): Promise<void> {
  bundled = await cliBundle();
}

/** The script a child runs: the bundle, or bin/echofs.js through tsx with `source`. */
function launcher(source: boolean | undefined): string {
  if (source) return LAUNCHER;
  if (!bundled) throw new Error('call prepareCli() in beforeAll before spawning the client');
  return bundled;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment a client run gets: the server, its own config dir, no progress bars unless asked. */
export function cliEnv(url: string, configDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, ECHOFS_URL: url, ECHOFS_CONFIG_DIR: configDir, ...extra };
  return env;
}

/** Run the client in this process (fast): stdout and stderr are captured. */
export async function runHere(args: string[], env: NodeJS.ProcessEnv, cwd = process.cwd()): Promise<CliResult & { stdoutBytes: Buffer }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (b: Buffer) => out.push(b));
  stderr.on('data', (b: Buffer) => err.push(b));
  const stdin = new PassThrough();
  stdin.end();
  const code = await run(args, { stdout, stderr, stdin, env, stderrIsTTY: false, cwd });
  const bytes = Buffer.concat(out);
  return { code, stdout: bytes.toString('utf8'), stdoutBytes: bytes, stderr: Buffer.concat(err).toString('utf8') };
}

export interface Spawned {
  child: ChildProcess;
  done: Promise<CliResult & { signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  cwd?: string;
  stdin?: string;
  /** Run bin/echofs.js itself through tsx instead of the bundle (tests of the launcher as shipped). */
  source?: boolean;
}

/** Start the client as a child process through its launcher. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv, o: SpawnOptions = {}): Spawned {
  const child = spawn(process.execPath, [launcher(o.source), ...args], { env, cwd: o.cwd ?? REPO, stdio: ['pipe', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout?.on('data', (b: Buffer) => out.push(b));
  child.stderr?.on('data', (b: Buffer) => err.push(b));
  child.stdin?.end(o.stdin ?? '');
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? -1, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
  return { child, done };
}

export async function runChild(args: string[], env: NodeJS.ProcessEnv, o: SpawnOptions = {}): Promise<CliResult> {
  const r = await spawnCli(args, env, o).done;
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}

/** The one JSON document a --json run prints. */
export function parseJson<T = Record<string, unknown>>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`expected one JSON document on stdout (exit ${r.code}); stdout: ${r.stdout.slice(0, 500)}; stderr: ${r.stderr.slice(0, 500)}`);
  }
}

export interface SeenRequest {
  method: string;
  path: string;
  status: number;
  /** The Range header, if any. */
  range?: string;
}

/**
 * An HTTP proxy in front of `target` that records every request with the status it got. `onResponse`
 * sees each one as it completes (a test can interrupt the client there).
 */
export class CountingProxy {
  readonly seen: SeenRequest[] = [];
  /** Requests forwarded and not yet finished (a killed client's requests still finish upstream). */
  inFlight = 0;
  /** Requests whose client left before their answer was complete (a killed client). */
  clientsGone = 0;
  onResponse?: (r: SeenRequest) => void;
  private server?: Server;
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    const t = new URL(this.target);
    this.server = createServer((req, res) => {
      this.inFlight++;
      let counted = true;
      const finish = () => {
        if (counted) this.inFlight--;
        counted = false;
      };
      // A client killed before or during the response: read the rest of the answer anyway, so the
      // request ends upstream as it would have (and `idle` can tell when the server is done). The
      // client can go before the answer's headers arrive, so this is watched from the start.
      let answer: IncomingMessage | undefined;
      let clientGone = false;
      res.on('close', () => {
        if (res.writableFinished) return;
        clientGone = true;
        this.clientsGone++;
        if (answer) {
          answer.unpipe(res);
          answer.resume();
        }
      });
      const up = request(
        { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: { ...req.headers, host: t.host } },
        (upRes: IncomingMessage) => {
          answer = upRes;
          if (clientGone) upRes.resume();
          else {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            upRes.pipe(res);
          }
          upRes.on('end', () => {
            const r = { method: req.method ?? '', path: (req.url ?? '').split('?')[0] ?? '', status: upRes.statusCode ?? 0, range: req.headers.range };
            this.seen.push(r);
            finish();
            this.onResponse?.(r);
          });
          upRes.on('error', () => {
            finish();
            res.destroy();
          });
        },
      );
      up.on('error', () => {
        finish();
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      req.on('error', () => up.destroy());
      res.on('error', () => up.destroy());
      req.pipe(up);
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Chunk PUTs seen (optionally only the successful ones), as the hashes they carried. */
  chunkPuts(o: { ok?: boolean } = {}): string[] {
    return this.seen
      .filter((r) => r.method === 'PUT' && /\/api\/v1\/uploads\/[^/]+\/chunks\/[0-9a-f]{64}$/.test(r.path) && (!o.ok || (r.status >= 200 && r.status < 300)))
      .map((r) => r.path.slice(-64));
  }

  reset(): void {
    this.seen.length = 0;
  }

  /** Wait until every forwarded request has finished upstream. */
  async idle(timeoutMs = 60_000): Promise<void> {
    await waitFor(() => this.inFlight === 0, 'the proxy to finish the requests in flight', timeoutMs);
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }
}
