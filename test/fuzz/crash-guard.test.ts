/**
 * The local server survives an error that escapes one request: that request is answered 500 with
 * a code and request id only (no internal text), the error is logged, and later requests are served.
 * Runs the adapter in a child process, since an escaped error is process-wide by nature.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import type { Socket } from 'node:net';
import { waitFor } from '../helpers/wait.js';

const script = fileURLToPath(new URL('./fixtures/escaping-server.ts', import.meta.url));
let child: ChildProcess;
let url: string;
let logs = '';

beforeAll(async () => {
  child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'INFO' } });
  child.stderr?.on('data', (b: Buffer) => (logs += b.toString()));
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      logs += b.toString();
      const m = /listening (http:\/\/\S+)/.exec(out);
      if (m?.[1]) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${logs}`)));
  });
});
afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
});

it('an error escaping one request answers that request 500 with a code only, and the server goes on serving', async () => {
  const boom = await fetch(`${url}/api/boom`);
  expect(boom.status).toBe(500);
  const body = (await boom.json()) as { error: { code: string; message: string; request_id: string } };
  expect(body.error.code).toBe('internal_error');
  expect(body.error.message).not.toContain('escaped');
  expect(body.error.request_id).toBe(boom.headers.get('x-request-id'));
  for (let i = 0; i < 3; i++) {
    const ok = await fetch(`${url}/api/ok`);
    expect(ok.status).toBe(200);
  }
  expect(child.exitCode).toBeNull();
  expect(logs).toContain('error escaped a request');
  expect(logs).toContain(body.error.request_id);
});

it('an error escaping after its response was sent leaves the kept-alive connection, now another request’s, open', async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path: string) =>
    new Promise<{ status: number; body: string; socket: Socket; reused: boolean; requestId: string }>((resolve, reject) => {
      const req = http.get(`${url}${path}`, { agent }, (res) => {
        const socket = res.socket;
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, socket, reused: req.reusedSocket, requestId: String(res.headers['x-request-id']) }));
      });
      req.on('error', reject);
    });
  try {
    const late = await get('/api/late');
    expect(late.status).toBe(200);
    await waitFor(() => logs.includes(`escaped late from ${late.requestId}`), `the late error of ${late.requestId} to be logged`);
    expect(late.socket.destroyed, 'the escaped error must not close a connection whose response was already sent').toBe(false);
    const next = await get('/api/ok');
    expect(next.status).toBe(200);
    expect(next.reused, 'the next request reuses the kept-alive connection').toBe(true);
  } finally {
    agent.destroy();
  }
});
