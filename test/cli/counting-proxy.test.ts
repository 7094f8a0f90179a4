/**
 * The counting proxy the resume tests stand on: a client killed at any moment must not leave a
 * request counted as in flight forever, or `idle()` (which the tests wait on) never returns. The
 * upstream here holds its answer until the test releases it, so the client can be made to leave
 * before the answer's headers, or in the middle of its body.
 */
import { once } from 'node:events';
import { createServer, request, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CountingProxy, waitFor } from './helpers.js';

let upstream: Server;
let proxy: CountingProxy;
/** Answers held by the upstream, by path, until the test releases them. */
const held = new Map<string, ServerResponse>();

beforeAll(async () => {
  upstream = createServer((req, res) => void held.set(req.url ?? '', res));
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  proxy = new CountingProxy(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
  await proxy.start();
});

afterAll(async () => {
  await proxy?.stop();
  upstream?.closeAllConnections();
  await new Promise<void>((r) => upstream?.close(() => r()));
});

/** Send a GET through the proxy; the returned request is destroyed by the test to play a killed client. */
function get(path: string) {
  const req = request(`${proxy.url}${path}`);
  req.on('error', () => undefined); // the test destroys it
  req.end();
  return req;
}

describe('counting proxy', () => {
  it('a client gone before the answer\'s headers: the answer is read to its end upstream and the request stops counting', async () => {
    const req = get('/early');
    await waitFor(() => held.has('/early'), 'the request to reach the upstream');
    const gone = proxy.clientsGone;
    req.destroy();
    // The proxy sees its client leave before any answer exists.
    await waitFor(() => proxy.clientsGone === gone + 1, 'the proxy to see its client leave');
    expect(proxy.inFlight).toBe(1);
    const res = held.get('/early') as ServerResponse;
    res.writeHead(200, { 'Content-Length': String(1024 * 1024) });
    res.end(Buffer.alloc(1024 * 1024));
    await proxy.idle(10_000);
    expect(proxy.seen.find((r) => r.path === '/early')).toMatchObject({ method: 'GET', status: 200 });
  });

  it('a client gone in the middle of the body: the rest is read upstream and the request stops counting', async () => {
    const req = get('/middle');
    await waitFor(() => held.has('/middle'), 'the request to reach the upstream');
    const res = held.get('/middle') as ServerResponse;
    res.writeHead(200, { 'Content-Length': String(8 * 1024 * 1024) });
    res.write(Buffer.alloc(64 * 1024));
    await new Promise<void>((resolve) => req.once('response', (r) => r.once('data', () => resolve())));
    const gone = proxy.clientsGone;
    req.destroy();
    await waitFor(() => proxy.clientsGone === gone + 1, 'the proxy to see its client leave');
    res.end(Buffer.alloc(8 * 1024 * 1024 - 64 * 1024));
    await proxy.idle(10_000);
    expect(proxy.seen.find((r) => r.path === '/middle')).toMatchObject({ status: 200 });
  });
});
