import { describe, expect, it, vi } from 'vitest';
import { ApiError, createApi, filenameFromDisposition, toControllerStatus, toFileSummary } from '../../web/src/api.js';

function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json', ...headers } });
}

describe('API client', () => {
  it('signs in, returning the token and the user, without sending a stale token', async () => {
    const fetch = vi.fn(async (_url: string | URL | Request, _init?: RequestInit) =>
      jsonResponse(200, { success: true, token: 't1', user: { id: 'u1', username: 'ann', email: 'ann@x.io', role: 'admin' } }),
    );
    const api = createApi({ fetch, getToken: () => 'old' });
    const s = await api.login({ email: 'ann@x.io', password: 'secret123' });
    expect(s).toEqual({ token: 't1', user: { id: 'u1', username: 'ann', email: 'ann@x.io', role: 'admin' } });
    const init = fetch.mock.calls[0]?.[1];
    expect(fetch.mock.calls[0]?.[0]).toBe('/api/v1/auth/login');
    expect((init?.headers as Record<string, string>).Authorization).toBeUndefined();
    expect(JSON.parse(String(init?.body))).toEqual({ email: 'ann@x.io', password: 'secret123' });
  });

  it('turns the error body into an ApiError with code, a friendly message (never the 5xx text), request id and Retry-After', async () => {
    const api = createApi({
      fetch: async () =>
        jsonResponse(503, { success: false, error: { code: 'unavailable', message: 'Not enough replicas.', request_id: 'r1' } }, { 'Retry-After': '3' }),
    });
    const err = await api.listFiles().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 503, code: 'unavailable', message: 'The service is temporarily unavailable. Try again shortly.', extra: { requestId: 'r1', retryAfterMs: 3000 } });
    expect((err as ApiError).retryable).toBe(true);
  });

  it('maps a strong write refused for lack of replicas (503) to a sentence, never the SDK text inside the server message', async () => {
    const api = createApi({
      fetch: async () =>
        jsonResponse(503, { success: false, error: { code: 'replicas_unavailable', message: 'Strong write needs 2 of 3 replicas (eu-west-1: AbortError: Request aborted)' } }),
    });
    const err = (await api.listFiles().catch((e: unknown) => e)) as ApiError;
    expect(err.message).toMatch(/^Not enough storage regions are reachable/);
    expect(err.message).not.toMatch(/AbortError|eu-west-1/);
  });

  it('keeps the server text of a 4xx (it names the field), and hides the text of a 500', async () => {
    const bad = createApi({ fetch: async () => jsonResponse(400, { success: false, error: { code: 'invalid_field', message: "Field 'name' is too long.", field: 'name' } }) });
    expect(await bad.listFiles().catch((e: unknown) => e)).toMatchObject({ message: "Field 'name' is too long.", extra: { field: 'name' } });
    const crash = createApi({ fetch: async () => jsonResponse(500, { success: false, error: { code: 'internal_error', message: 'TypeError: x is undefined' } }) });
    expect(((await crash.listFiles().catch((e: unknown) => e)) as ApiError).message).toBe('The server could not complete this request. Try again shortly.');
  });

  it('reads the file list page by page through next_cursor (data is an array) and shows the newest first', async () => {
    const file = (id: string, name: string, uploaded: string) => ({ file_id: id, name, size: 1, uploaded, chunks: 1 });
    const urls: string[] = [];
    const api = createApi({
      getToken: () => 'tok',
      fetch: async (url) => {
        urls.push(String(url));
        const cursor = new URL(String(url), 'http://x').searchParams.get('cursor');
        if (cursor === null) return jsonResponse(200, { success: true, data: [file('a', 'a.txt', '2024-01-01T00:00:00.000Z')], next_cursor: 'c1' });
        if (cursor === 'c1') return jsonResponse(200, { success: true, data: [file('b', 'b.txt', '2024-03-01T00:00:00.000Z')], next_cursor: 'c2' });
        return jsonResponse(200, { success: true, data: [file('c', 'c.txt', '2024-02-01T00:00:00.000Z')], next_cursor: null });
      },
    });
    const files = await api.listFiles();
    expect(urls).toEqual(['/api/v1/files', '/api/v1/files?cursor=c1', '/api/v1/files?cursor=c2']);
    expect(files.map((f) => f.id)).toEqual(['b', 'c', 'a']);
  });

  it('reports an unreachable server as a retryable network error', async () => {
    const api = createApi({ fetch: async () => { throw new TypeError('Failed to fetch'); } });
    const err = (await api.listFiles().catch((e: unknown) => e)) as ApiError;
    expect(err.status).toBe(0);
    expect(err.code).toBe('network_error');
    expect(err.retryable).toBe(true);
  });

  it('calls onUnauthorized when a request carrying a token gets 401, but not for a failed sign-in', async () => {
    const onUnauthorized = vi.fn();
    const api = createApi({
      fetch: async () => jsonResponse(401, { success: false, error: { code: 'unauthorized', message: 'Token expired.' } }),
      getToken: () => 'tok',
      onUnauthorized,
    });
    await expect(api.listFiles()).rejects.toMatchObject({ status: 401 });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    await expect(api.login({ email: 'a@b.c', password: 'x' })).rejects.toMatchObject({ status: 401, message: 'Token expired.' });
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('sends chunk bytes raw with the bearer token and reads the upload session', async () => {
    const calls: { url: string; init?: RequestInit }[] = [];
    const api = createApi({
      getToken: () => 'tok',
      fetch: async (url, init) => {
        calls.push({ url: String(url), init });
        if (String(url).endsWith('/chunks/abc')) return new Response(null, { status: 204 });
        return jsonResponse(201, { success: true, data: { upload_id: 'up1', missing: ['abc', 'def'] } });
      },
    });
    expect(await api.createUpload({ name: 'a.bin', size: 3, sha256: 'x', chunks: [{ hash: 'abc', size: 3 }] })).toEqual({ uploadId: 'up1', missing: ['abc', 'def'] });
    await api.putChunk('up1', 'abc', new Uint8Array([1, 2, 3]).buffer);
    expect(calls[1]?.url).toBe('/api/v1/uploads/up1/chunks/abc');
    expect(calls[1]?.init?.method).toBe('PUT');
    expect((calls[1]?.init?.headers as Record<string, string>).Authorization).toBe('Bearer tok');
    expect(calls[1]?.init?.body).toBeInstanceOf(ArrayBuffer);
  });

  it('downloads bytes with the file name from Content-Disposition', async () => {
    const api = createApi({
      fetch: async () => new Response(new Uint8Array([9, 8, 7]), { status: 200, headers: { 'Content-Disposition': `attachment; filename="r.bin"; filename*=UTF-8''r%C3%A9sum%C3%A9.bin` } }),
    });
    const { blob, filename } = await api.download('f1');
    expect(filename).toBe('résumé.bin');
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(new Uint8Array([9, 8, 7]));
    expect(filenameFromDisposition('attachment; filename="plain.txt"')).toBe('plain.txt');
    expect(filenameFromDisposition(null)).toBeUndefined();
  });
});

describe('response normalisation', () => {
  it('reads a file summary from the files API shape, replica summary included', () => {
    expect(
      toFileSummary({
        file_id: 'f1', name: 'a.txt', size: 10, uploaded: '2026-01-01T00:00:00Z', chunks: 1, version: 2, mode: 'A',
        replicas: { chunks: 1, present: { 'us-east-1': 1 }, complete: ['us-east-1'], under_replicated: 1 },
      }),
    ).toEqual({
      id: 'f1', name: 'a.txt', size: 10, uploadedAt: '2026-01-01T00:00:00Z', version: 2, chunks: 1, mode: 'A',
      replicas: { chunks: 1, present: { 'us-east-1': 1 }, complete: ['us-east-1'], underReplicated: 1 },
    });
  });

  it('reads the controller status: mode, reason, score parts, regions, backlog and lag', () => {
    const s = toControllerStatus({
      mode: 'A',
      score: 0.71,
      parts: { partition: 0.27, lag: 0.06, writes: 0.02, hint: 0, penalty: -0.1 },
      inputs: { partition: 0.67, lag: 0.2, writes: 0.1, hint: 0, penalty: 0.5 },
      thresholds: { available_above: 0.6, strong_below: 0.3 },
      samples: [{ at: 1000, score: 0.7, proposed: 'A', emergency: true }],
      global_override: null,
      object_overrides: 2,
      critical_keys: 1,
      replicas: [
        { region: 'us-east-1', reachable: true, latency_ewma_ms: 12, latency_p95_ms: 30, error_rate: 0 },
        { region: 'eu-west-1', reachable: false, latency_ewma_ms: null, last_error: 'timeout' },
      ],
      backlog: { pending: 42, missing: 3 },
      replication_lag_ms: 3500,
      transitions: [{ id: 'x', at: 1767225600000, kind: 'transition', from: 'C', to: 'A', reason: 'emergency: 2 of 3 replicas unreachable' }],
      timestamp: '2026-01-01T00:00:01Z',
    });
    expect(s.mode).toBe('A');
    expect(s.reason).toBe('emergency: 2 of 3 replicas unreachable');
    expect(s.score).toBe(0.71);
    expect(s.parts.penalty).toBe(-0.1);
    expect(s.inputs.partition).toBe(0.67);
    expect(s.samples).toEqual([{ t: 1000, score: 0.7, proposed: 'A', emergency: true }]);
    expect(s.regions).toEqual([
      { region: 'us-east-1', reachable: true, latencyMs: 12, p95Ms: 30, errorRate: 0 },
      { region: 'eu-west-1', reachable: false, lastError: 'timeout' },
    ]);
    expect(s).toMatchObject({ backlog: 42, missing: 3, lagMs: 3500, objectOverrides: 2, criticalKeys: 1 });
    expect(s.globalOverride).toBeUndefined();
    expect(s.transitions[0]).toMatchObject({ from: 'C', to: 'A', at: '2026-01-01T00:00:00.000Z' });
  });

  it("shows the status's own reason for the mode, never the reason of a transition to another mode", () => {
    const earlier = [{ id: 'y', at: 1767225600000, kind: 'transition', from: 'H', to: 'C', reason: '3 consecutive samples chose C (score 0.000)' }];
    const withReason = toControllerStatus({ mode: 'A', reason: 'emergency: 2 of 3 replicas unreachable (partition risk 0.667)', score: 0.27, transitions: earlier });
    expect(withReason.reason).toBe('emergency: 2 of 3 replicas unreachable (partition risk 0.667)');
    const withoutReason = toControllerStatus({ mode: 'A', score: 0.27, transitions: earlier });
    expect(withoutReason.reason).toBe('');
  });

  it('reads an empty controller status (no sample yet) without inventing a score', () => {
    const s = toControllerStatus({ mode: 'C', score: null, parts: null, inputs: null, replicas: [], transitions: [] });
    expect(s.score).toBeNull();
    expect(s.parts).toEqual({ partition: 0, lag: 0, writes: 0, hint: 0, penalty: 0 });
  });
});
