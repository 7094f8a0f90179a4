import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { startFaultProxy, type FaultProxy } from '#local/faultproxy.js';

/** A tiny TCP echo server the proxy sits in front of. */
let echo: net.Server;
let echoPort: number;
const echoSockets = new Set<net.Socket>();

beforeAll(async () => {
  echo = net.createServer((s) => {
    echoSockets.add(s);
    s.on('close', () => echoSockets.delete(s));
    s.on('error', () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const s of echoSockets) s.destroy();
  await new Promise<void>((r) => echo.close(() => r()));
});

const proxies: FaultProxy[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
});

async function proxy(random?: () => number): Promise<FaultProxy> {
  const p = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: echoPort, random });
  proxies.push(p);
  return p;
}

interface Client {
  socket: net.Socket;
  received(): Buffer;
  /** Resolves with the bytes once `n` have arrived, or with what arrived when the socket closed or `ms` passed. */
  read(n: number, ms?: number): Promise<{ data: Buffer; outcome: 'data' | 'closed' | 'timeout' }>;
  closed: Promise<void>;
}

function connect(port: number): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let isClosed = false;
    const closed = new Promise<void>((r) => socket.on('close', () => { isClosed = true; r(); }));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.once('connect', () =>
      resolve({
        socket,
        closed,
        received: () => Buffer.concat(chunks),
        read(n, ms = 5000) {
          return new Promise((res) => {
            const check = () => {
              const data = Buffer.concat(chunks);
              if (data.length >= n) return finish('data');
              if (isClosed) return finish('closed');
            };
            const timer = setTimeout(() => finish('timeout'), ms);
            const finish = (outcome: 'data' | 'closed' | 'timeout') => {
              clearTimeout(timer);
              socket.off('data', check);
              socket.off('close', check);
              res({ data: Buffer.concat(chunks), outcome });
            };
            socket.on('data', check);
            socket.on('close', check);
            check();
          });
        },
      }),
    );
    socket.once('error', reject);
  });
}

/** Open a connection, send `payload`, and report whether its echo came back or the proxy dropped the connection. */
function attempt(port: number, payload: string): Promise<'data' | 'closed'> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let got = '';
    socket.on('error', () => undefined);
    socket.on('data', (c: Buffer) => {
      got += c.toString();
      if (got.length >= payload.length) {
        socket.destroy();
        resolve('data');
      }
    });
    socket.on('close', () => resolve('closed'));
    socket.write(payload);
  });
}

describe('fault proxy', () => {
  it('passes bytes through unchanged when up (1 MiB round trip)', async () => {
    const p = await proxy();
    expect(p.get()).toEqual({ state: 'up', latency_ms: 0, jitter_ms: 0, loss: 0 });
    const c = await connect(p.port);
    const payload = randomBytes(1024 * 1024);
    c.socket.write(payload);
    const r = await c.read(payload.length);
    expect(r.outcome).toBe('data');
    expect(r.data.equals(payload)).toBe(true);
    c.socket.destroy();
  });

  it('holds each reply for at least latency_ms (+ jitter at its maximum), keeping byte order', async () => {
    const p = await proxy(() => 0.999999);
    p.set({ latency_ms: 150, jitter_ms: 50 });
    const c = await connect(p.port);
    const started = performance.now();
    c.socket.write('first,');
    c.socket.write('second');
    const r = await c.read(12);
    const waited = performance.now() - started;
    expect(r.data.toString()).toBe('first,second');
    // A lower bound only: the proxy cannot release a reply before its delay has passed.
    expect(waited).toBeGreaterThanOrEqual(195);
    c.socket.destroy();
  });

  it('refuse resets new connections and closes the open ones at once', async () => {
    const p = await proxy();
    const open = await connect(p.port);
    open.socket.write('ping');
    expect((await open.read(4)).outcome).toBe('data');

    p.set({ state: 'refuse' });
    await open.closed; // the open connection was reset
    expect(p.connectionCount()).toBe(0);

    expect(await attempt(p.port, 'hello')).toBe('closed');
  });

  it('blackhole accepts and keeps connections open but never answers; healing resets the cut ones and serves new ones', async () => {
    const p = await proxy();
    const before = await connect(p.port); // opened while up, then cut by the partition
    before.socket.write('a');
    expect((await before.read(1)).outcome).toBe('data');

    p.set({ state: 'blackhole' });
    const during = await connect(p.port);
    during.socket.write('anyone there?');
    before.socket.write('b');
    const [rDuring, rBefore] = await Promise.all([during.read(1, 400), before.read(2, 400)]);
    expect(rDuring.outcome).toBe('timeout');
    expect(rDuring.data.length).toBe(0);
    expect(rBefore.outcome).toBe('timeout');
    expect(rBefore.data.toString()).toBe('a');
    expect(during.socket.destroyed).toBe(false);
    expect(p.connectionCount()).toBe(2);

    p.set({ state: 'up' });
    await Promise.all([during.closed, before.closed]);
    const after = await connect(p.port);
    after.socket.write('back');
    const r = await after.read(4);
    expect(r.outcome).toBe('data');
    expect(r.data.toString()).toBe('back');
    after.socket.destroy();
  });

  it('loss drops the given share of new connections (decided by the random source)', async () => {
    const draws = [0.1, 0.9, 0.4, 0.6];
    const p = await proxy(() => draws.shift() ?? 0.99);
    p.set({ loss: 0.5 });
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++) outcomes.push(await attempt(p.port, 'x'));
    expect(outcomes).toEqual(['closed', 'data', 'closed', 'data']);
  });

  it('loss also drops a kept-alive connection when it carries its next request', async () => {
    const p = await proxy();
    const c = await connect(p.port);
    c.socket.write('one');
    expect((await c.read(3)).outcome).toBe('data');
    p.set({ loss: 1 });
    c.socket.write('two');
    const r = await c.read(6);
    expect(r.outcome).toBe('closed');
    expect(r.data.toString()).toBe('one');
  });

  it('loss 1 drops every connection and loss 0 none', async () => {
    const p = await proxy();
    p.set({ loss: 1 });
    expect(await attempt(p.port, 'x')).toBe('closed');
    p.set({ loss: 0 });
    expect(await attempt(p.port, 'y')).toBe('data');
  });

  it('rejects invalid settings and keeps the previous ones', async () => {
    const p = await proxy();
    expect(() => p.set({ loss: 2 })).toThrow(/loss/);
    expect(() => p.set({ latency_ms: -1 })).toThrow(/latency_ms/);
    expect(() => p.set({ state: 'down' as never })).toThrow(/state/);
    expect(p.get()).toEqual({ state: 'up', latency_ms: 0, jitter_ms: 0, loss: 0 });
  });

  it('close destroys every socket, blackholed ones included, and stops listening', async () => {
    const p = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: echoPort });
    const a = await connect(p.port);
    p.set({ state: 'blackhole' });
    const b = await connect(p.port);
    await p.close();
    await Promise.all([a.closed, b.closed]);
    expect(p.connectionCount()).toBe(0);
    await expect(connect(p.port)).rejects.toThrow(/ECONNREFUSED/);
  });
});
