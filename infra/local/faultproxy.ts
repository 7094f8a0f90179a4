/**
 * A TCP fault proxy in front of one replica's S3 emulator. Its settings change at runtime:
 *
 * - state `up`: bytes pass through; each chunk from the replica back to the client is held for
 *   latency_ms ± jitter_ms (order preserved), so every request/response round trip pays it.
 * - state `refuse`: new connections are reset at once, and every open one is reset when the state
 *   is entered (the replica is down, and clients learn it immediately).
 * - state `blackhole`: connections are accepted but nothing is ever answered and nothing is closed
 *   (a partition: clients learn only through their own timeouts). Open connections stop
 *   forwarding when the state is entered; when the partition heals they are reset, so clients
 *   reconnect instead of waiting on a cut link.
 * - loss: the share (0..1) of connections dropped (reset), in any state but refuse: decided when a
 *   connection arrives, and again each time a kept-alive connection carries a new request (the
 *   client speaks again after the replica has answered), so pooled connections see loss too.
 */
import net from 'node:net';

export type FaultState = 'up' | 'refuse' | 'blackhole';

export interface FaultSettings {
  state: FaultState;
  latency_ms: number;
  jitter_ms: number;
  /** Share of connections dropped, 0..1 (on arrival and on each new request of a kept-alive connection). */
  loss: number;
}

export interface FaultProxyOptions {
  targetHost: string;
  targetPort: number;
  /** Listen port; 0 (default) lets the OS pick a free one. */
  port?: number;
  host?: string;
  /** Random source in [0,1) for loss and jitter (tests inject a fixed one). */
  random?: () => number;
}

export interface FaultProxy {
  port: number;
  /** http://127.0.0.1:port, the endpoint clients use instead of the replica's own. */
  endpoint: string;
  get(): FaultSettings;
  /** Merge the given settings into the current ones and apply them to open connections. */
  set(settings: Partial<FaultSettings>): FaultSettings;
  /** Number of client connections currently held open. */
  connectionCount(): number;
  /** Destroy every socket and stop listening. */
  close(): Promise<void>;
}

export const UP: FaultSettings = Object.freeze({ state: 'up', latency_ms: 0, jitter_ms: 0, loss: 0 }) as FaultSettings;

export function checkFaultSettings(s: FaultSettings): void {
  if (!['up', 'refuse', 'blackhole'].includes(s.state)) throw new RangeError(`fault state must be up, refuse or blackhole (got '${String(s.state)}')`);
  for (const k of ['latency_ms', 'jitter_ms'] as const) {
    if (!Number.isFinite(s[k]) || s[k] < 0 || s[k] > 600_000) throw new RangeError(`${k} must be a number from 0 to 600000`);
  }
  if (!Number.isFinite(s.loss) || s.loss < 0 || s.loss > 1) throw new RangeError('loss must be a number from 0 to 1');
}

/** One direction of a connection, with an optional delay per chunk that keeps the order. */
class DelayedLink {
  private queue: { at: number; chunk: Buffer | null }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastAt = 0;
  private queuedBytes = 0;
  private waitingDrain = false;
  private static readonly HIGH_WATER = 4 * 1024 * 1024;

  constructor(
    private readonly src: net.Socket,
    private readonly dst: net.Socket,
    private readonly delay: () => number,
  ) {}

  /** chunk null = end of stream. */
  push(chunk: Buffer | null): void {
    const d = this.delay();
    if (d <= 0 && this.queue.length === 0) {
      this.write(chunk);
      return;
    }
    const at = Math.max(this.lastAt, Date.now() + d);
    this.lastAt = at;
    this.queue.push({ at, chunk });
    if (chunk) {
      this.queuedBytes += chunk.length;
      if (this.queuedBytes > DelayedLink.HIGH_WATER) this.src.pause();
    }
    this.schedule();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue = [];
    this.queuedBytes = 0;
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    const head = this.queue[0] as { at: number };
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      while (this.queue.length > 0 && (this.queue[0] as { at: number }).at <= now) {
        const item = this.queue.shift() as { chunk: Buffer | null };
        if (item.chunk) this.queuedBytes -= item.chunk.length;
        this.write(item.chunk);
      }
      if (this.queuedBytes <= DelayedLink.HIGH_WATER && !this.waitingDrain && this.src.isPaused()) this.src.resume();
      this.schedule();
    }, Math.max(0, head.at - Date.now()));
  }

  private write(chunk: Buffer | null): void {
    if (this.dst.destroyed) return;
    if (chunk === null) {
      this.dst.end();
      return;
    }
    if (!this.dst.write(chunk) && !this.waitingDrain) {
      this.waitingDrain = true;
      this.src.pause();
      this.dst.once('drain', () => {
        this.waitingDrain = false;
        if (!this.src.destroyed && this.queuedBytes <= DelayedLink.HIGH_WATER) this.src.resume();
      });
    }
  }
}

interface Conn {
  client: net.Socket;
  upstream?: net.Socket;
  links: DelayedLink[];
  /** Cut by a partition: reads are discarded, nothing is written, nothing is closed. */
  cut: boolean;
}

function reset(socket: net.Socket | undefined): void {
  if (!socket || socket.destroyed) return;
  if (typeof socket.resetAndDestroy === 'function' && !socket.connecting) socket.resetAndDestroy();
  else socket.destroy();
}

export async function startFaultProxy(o: FaultProxyOptions): Promise<FaultProxy> {
  const random = o.random ?? Math.random;
  const host = o.host ?? '127.0.0.1';
  let settings: FaultSettings = { ...UP };
  const conns = new Set<Conn>();

  const responseDelay = () => {
    const j = settings.jitter_ms > 0 ? (random() * 2 - 1) * settings.jitter_ms : 0;
    return Math.max(0, settings.latency_ms + j);
  };

  const cut = (c: Conn) => {
    c.cut = true;
    for (const l of c.links) l.clear();
    c.upstream?.destroy();
    c.upstream = undefined;
    c.client.resume();
  };

  const drop = (c: Conn) => {
    for (const l of c.links) l.clear();
    reset(c.client);
    c.upstream?.destroy();
    conns.delete(c);
  };

  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (client) => {
    const c: Conn = { client, links: [], cut: false };
    conns.add(c);
    client.on('error', () => undefined);
    client.on('close', () => {
      for (const l of c.links) l.clear();
      c.upstream?.destroy();
      conns.delete(c);
    });
    if (settings.state === 'refuse' || (settings.loss > 0 && random() < settings.loss)) {
      drop(c);
      return;
    }
    if (settings.state === 'blackhole') {
      cut(c);
      return;
    }
    const upstream = net.connect({ host: o.targetHost, port: o.targetPort, allowHalfOpen: true });
    c.upstream = upstream;
    upstream.on('error', () => {
      if (!c.cut) reset(client);
    });
    const toUpstream = new DelayedLink(client, upstream, () => 0);
    const toClient = new DelayedLink(upstream, client, responseDelay);
    c.links.push(toUpstream, toClient);
    // Who spoke last: a client chunk after a reply starts a new request on a kept-alive connection.
    let replied = false;
    client.on('data', (chunk: Buffer) => {
      if (c.cut) return;
      if (replied) {
        replied = false;
        if (settings.loss > 0 && random() < settings.loss) {
          drop(c);
          return;
        }
      }
      toUpstream.push(chunk);
    });
    client.on('end', () => {
      if (!c.cut) toUpstream.push(null);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (c.cut) return;
      replied = true;
      toClient.push(chunk);
    });
    upstream.on('end', () => {
      if (!c.cut) toClient.push(null);
    });
    upstream.once('connect', () => client.resume());
  });
  server.on('error', () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    endpoint: `http://${host}:${port}`,
    get: () => ({ ...settings }),
    set(partial) {
      const next: FaultSettings = { ...settings, ...partial };
      checkFaultSettings(next);
      const prev = settings.state;
      settings = next;
      if (next.state === 'refuse') {
        for (const c of [...conns]) drop(c);
      } else if (next.state === 'blackhole') {
        for (const c of conns) if (!c.cut) cut(c);
      } else if (prev === 'blackhole') {
        for (const c of [...conns]) if (c.cut) drop(c);
      }
      return { ...settings };
    },
    connectionCount: () => conns.size,
    close() {
      for (const c of [...conns]) {
        for (const l of c.links) l.clear();
        c.client.destroy();
        c.upstream?.destroy();
      }
      conns.clear();
      return new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
      });
    },
  };
}
