/**
 * Lambda-shaped containers: each a child process running runtime/bootstrap.mjs on a copy of the
 * function's bundle, in a folder without node_modules, with the function's environment and its own
 * Runtime API endpoint served here. A pool per function (at least 3): consecutive invocations land
 * on different containers, a container is frozen (SIGSTOP) as soon as it asks for its next
 * invocation (the moment Lambda freezes it) and thawed (SIGCONT) for the next one, and containers
 * are recycled (killed, later cold-started again) after a few invocations.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { listen, readBody, type Listening } from '#emulators/http.js';

const BOOTSTRAP = fileURLToPath(new URL('./runtime/bootstrap.mjs', import.meta.url));

export interface FunctionSpec {
  /** Logical id in the template (e.g. FilesStream...). */
  logicalId: string;
  /** Physical name (what Ref gives). */
  name: string;
  arn: string;
  /** Folder of the built bundle (cdk.out/asset.<hash>). */
  assetDir: string;
  /** `index.handler` */
  handler: string;
  memoryMb: number;
  timeoutSeconds: number;
  /** Exactly the template's environment, resolved. */
  environment: Record<string, string>;
  streaming: boolean;
}

export type InvokeOutcome =
  | { kind: 'result'; payload: Buffer }
  | { kind: 'stream'; contentType: string; body: Readable }
  | { kind: 'error'; errorType: string; payload: Buffer };

export interface InvocationRecord {
  fn: string;
  /** The event's route key (API events), for telling requests apart. */
  label?: string;
  /** When the invocation was handed to its container (ms since the epoch). */
  at: number;
  requestId: string;
  container: string;
  cold: boolean;
  /** Spawn to first /next (node start + module import), for cold invocations. */
  initMs?: number;
  /** The X-Ray trace id the invocation was given (_X_AMZN_TRACE_ID; the SDK sends it on each call as X-Amzn-Trace-Id). */
  traceId: string;
  /** When the runtime began posting the response or error (ms since the epoch). */
  respondedAt?: number;
  /** When the container was frozen (SIGSTOP) or recycled (killed) after the invocation: nothing it does later reaches anyone. */
  idleAt?: number;
  idle?: 'frozen' | 'recycled';
  durationMs: number;
  outcome: InvokeOutcome['kind'];
}

interface Pending {
  requestId: string;
  event: string;
  deadline: number;
  started: number;
  record: InvocationRecord;
  resolve(o: InvokeOutcome): void;
}

class Container {
  readonly id: string;
  readonly dir: string;
  proc?: ChildProcess;
  api?: Listening;
  frozen = false;
  dead = false;
  invocations = 0;
  lastUsed = 0;
  spawnedAt = 0;
  initMs?: number;
  /** The held GET /next of the runtime, answered when an invocation comes. */
  private waitingNext?: ServerResponse;
  private ready?: () => void;
  private current?: Pending;
  /** The record of the invocation handed over last (its freeze is noted on it). */
  lastRecord?: InvocationRecord;
  private readyPromise: Promise<void>;
  logs: string[] = [];

  constructor(
    readonly spec: FunctionSpec,
    readonly seq: number,
    private readonly baseEnv: Record<string, string>,
    root: string,
    private readonly onIdle: (c: Container) => void,
    private readonly onDeath: (c: Container) => void,
  ) {
    this.id = `${spec.logicalId}#${seq}`;
    this.dir = join(root, `${spec.logicalId}-${seq}`);
    this.readyPromise = new Promise((r) => (this.ready = r));
  }

  async start(): Promise<void> {
    // /var/task: a copy of the bundle, nothing else (no node_modules anywhere above it either).
    const task = join(this.dir, 'task');
    mkdirSync(task, { recursive: true });
    cpSync(this.spec.assetDir, task, { recursive: true });
    this.api = await listen((req, res) => void this.serve(req, res));
    const env: Record<string, string> = {
      ...this.spec.environment,
      ...this.baseEnv,
      _HANDLER: this.spec.handler,
      AWS_LAMBDA_FUNCTION_NAME: this.spec.name,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(this.spec.memoryMb),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${this.spec.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `2025/01/01/[$LATEST]${randomUUID().replace(/-/g, '')}`,
      AWS_LAMBDA_RUNTIME_API: `127.0.0.1:${this.api.port}`,
      LAMBDA_TASK_ROOT: task,
      LAMBDA_RUNTIME_DIR: join(this.dir, 'runtime'),
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    };
    this.spawnedAt = Date.now();
    const proc = spawn(process.execPath, [BOOTSTRAP], { cwd: task, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    const keep = (d: Buffer) => {
      this.logs.push(d.toString('utf8'));
      if (this.logs.length > 200) this.logs.splice(0, this.logs.length - 200);
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
    proc.on('exit', (code, signal) => {
      this.dead = true;
      const p = this.current;
      this.current = undefined;
      p?.resolve({ kind: 'error', errorType: 'Runtime.ExitError', payload: Buffer.from(JSON.stringify({ errorType: 'Runtime.ExitError', errorMessage: `container exited (code ${code}, signal ${signal}): ${this.tail()}` })) });
      void this.api?.close();
      this.ready?.();
      this.onDeath(this);
    });
    await this.readyPromise;
    if (this.dead) throw new Error(`${this.id} failed to start: ${this.tail()}`);
  }

  tail(): string {
    return this.logs.join('').slice(-2000);
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '';
    if (req.method === 'GET' && url.endsWith('/runtime/invocation/next')) {
      this.waitingNext = res;
      if (this.initMs === undefined) {
        this.initMs = Date.now() - this.spawnedAt;
        this.ready?.();
        return;
      }
      // The runtime has finished the invocation: Lambda freezes the container now.
      this.onIdle(this);
      return;
    }
    if (req.method === 'POST' && url.endsWith('/runtime/init/error')) {
      this.logs.push(`init error: ${(await readBody(req)).toString('utf8')}`);
      res.writeHead(202).end();
      return;
    }
    const m = /\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(url);
    const p = this.current;
    if (!m || !p || m[1] !== p.requestId) {
      res.writeHead(400).end();
      return;
    }
    p.record.respondedAt ??= Date.now();
    if (m[2] === 'error') {
      const payload = await readBody(req);
      this.finish({ kind: 'error', errorType: String(req.headers['lambda-runtime-function-error-type'] ?? 'Error'), payload });
      res.writeHead(202).end();
      return;
    }
    if (req.headers['lambda-runtime-function-response-mode'] === 'streaming') {
      const body = new PassThrough();
      req.pipe(body);
      req.on('end', () => {
        const errType = req.trailers['lambda-runtime-function-error-type'];
        if (errType) body.destroy(new Error(`streamed response failed: ${errType}`));
        res.writeHead(202).end();
      });
      req.on('error', (e) => body.destroy(e));
      this.finish({ kind: 'stream', contentType: String(req.headers['content-type'] ?? 'application/octet-stream'), body });
      return;
    }
    const payload = await readBody(req);
    res.writeHead(202).end();
    this.finish({ kind: 'result', payload });
  }

  private finish(o: InvokeOutcome): void {
    const p = this.current;
    if (!p) return;
    this.current = undefined;
    p.resolve(o);
  }

  /** Thaw and hand the held /next its invocation. */
  deliver(p: Pending): void {
    const res = this.waitingNext;
    if (!res) throw new Error(`${this.id} is not waiting for an invocation`);
    this.waitingNext = undefined;
    this.current = p;
    this.lastRecord = p.record;
    this.invocations++;
    this.lastUsed = Date.now();
    this.thaw();
    const body = Buffer.from(p.event);
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': body.length,
      'Lambda-Runtime-Aws-Request-Id': p.requestId,
      'Lambda-Runtime-Deadline-Ms': String(p.deadline),
      'Lambda-Runtime-Invoked-Function-Arn': this.spec.arn,
      'Lambda-Runtime-Trace-Id': p.record.traceId,
    });
    res.end(body);
  }

  freeze(): void {
    if (this.dead || this.frozen) return;
    this.proc?.kill('SIGSTOP');
    this.frozen = true;
  }

  thaw(): void {
    if (this.dead || !this.frozen) return;
    this.proc?.kill('SIGCONT');
    this.frozen = false;
  }

  kill(): void {
    if (this.dead) return;
    this.proc?.kill('SIGKILL');
  }

  get busy(): boolean {
    return this.current !== undefined;
  }
}

export interface PoolOptions {
  /** Containers per function at most (and at least 3 before one is reused back to back). */
  maxContainers: number;
  /** A container is recycled after a number of invocations drawn from this range. */
  recycleAfter: [number, number];
  /** Deterministic randomness for the recycling (tests can reproduce a run). */
  random: () => number;
}

/** The containers of one function. */
export class FunctionPool {
  private containers: Container[] = [];
  private waiting: ((c: Container) => void)[] = [];
  private seq = 0;
  private lastUsed?: Container;
  private lifetimes = new Map<Container, number>();
  readonly records: InvocationRecord[] = [];
  coldStarts = 0;
  recycled = 0;

  constructor(
    readonly spec: FunctionSpec,
    private readonly baseEnv: Record<string, string>,
    private readonly root: string,
    private readonly o: PoolOptions,
  ) {}

  private async spawn(): Promise<Container> {
    const c = new Container(this.spec, ++this.seq, this.baseEnv, this.root, (x) => this.idle(x), (x) => {
      this.gone(x);
      // A container that died (timeout, crash) frees a place for a waiting invocation.
      this.wakeWaiter();
    });
    this.containers.push(c);
    const [lo, hi] = this.o.recycleAfter;
    this.lifetimes.set(c, lo + Math.floor(this.o.random() * (hi - lo + 1)));
    this.coldStarts++;
    try {
      await c.start();
    } catch (err) {
      this.gone(c);
      throw err;
    }
    return c;
  }

  private gone(c: Container): void {
    this.containers = this.containers.filter((x) => x !== c);
    if (this.lastUsed === c) this.lastUsed = undefined;
  }

  private idle(c: Container): void {
    const last = c.lastRecord;
    if (last && last.idleAt === undefined) last.idleAt = Date.now();
    if (c.invocations >= (this.lifetimes.get(c) ?? Infinity)) {
      if (last && !last.idle) last.idle = 'recycled';
      this.recycled++;
      c.kill();
      this.gone(c);
      this.wakeWaiter();
      return;
    }
    c.freeze();
    if (last && !last.idle) last.idle = 'frozen';
    this.idleSet.add(c);
    this.wakeWaiter();
  }

  private idleSet = new Set<Container>();

  private wakeWaiter(): void {
    const w = this.waiting.shift();
    if (!w) return;
    void this.acquire().then(w);
  }

  /**
   * An idle container that is not the one used last, else a new one, else wait for another to
   * finish: the one used last is never handed the next invocation, even when the pool is full.
   */
  private async acquire(): Promise<Container> {
    const idle = [...this.idleSet].filter((c) => !c.dead).sort((a, b) => a.lastUsed - b.lastUsed);
    const other = idle.find((c) => c !== this.lastUsed);
    const pick = (c: Container) => {
      this.idleSet.delete(c);
      this.lastUsed = c;
      return c;
    };
    if (other) return pick(other);
    if (this.containers.length < this.o.maxContainers) {
      const c = await this.spawn();
      return pick(c);
    }
    return new Promise<Container>((resolve) => this.waiting.push(resolve));
  }

  /**
   * Run one invocation on a container of the pool. `timeoutMs` (at most the function's timeout)
   * gives this invocation an earlier deadline, as a function configured with that timeout would
   * get: the context's remaining time and the sandbox reset both follow it.
   */
  async invoke(event: unknown, o: { timeoutMs?: number } = {}): Promise<{ outcome: InvokeOutcome; record: InvocationRecord }> {
    const c = await this.acquire();
    const cold = c.invocations === 0;
    const requestId = randomUUID();
    const started = Date.now();
    const timeoutMs = Math.min(o.timeoutMs ?? Infinity, this.spec.timeoutSeconds * 1000);
    const deadline = started + timeoutMs;
    const routeKey = (event as { routeKey?: unknown } | null)?.routeKey;
    const record: InvocationRecord = {
      fn: this.spec.logicalId,
      ...(typeof routeKey === 'string' ? { label: routeKey } : {}),
      at: started,
      requestId,
      container: c.id,
      cold,
      ...(cold ? { initMs: c.initMs } : {}),
      traceId: `Root=1-${Math.floor(started / 1000).toString(16)}-${randomUUID().replace(/-/g, '').slice(0, 24)};Sampled=0`,
      durationMs: 0,
      outcome: 'error',
    };
    const outcome = await new Promise<InvokeOutcome>((resolve) => {
      const timer = setTimeout(() => {
        // Lambda ends a timed-out invocation by resetting the sandbox.
        resolve({ kind: 'error', errorType: 'Sandbox.Timedout', payload: Buffer.from(JSON.stringify({ errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds` })) });
        c.kill();
      }, deadline - Date.now());
      c.deliver({ requestId, event: JSON.stringify(event), deadline, started, record, resolve: (o) => (clearTimeout(timer), resolve(o)) });
    });
    record.durationMs = Date.now() - started;
    record.outcome = outcome.kind;
    this.records.push(record);
    return { outcome, record };
  }

  /** Containers alive now. */
  get size(): number {
    return this.containers.length;
  }

  async stop(): Promise<void> {
    for (const c of this.containers) {
      c.thaw();
      c.kill();
    }
    this.containers = [];
  }
}
