import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { bufferResult, contentDisposition, parseIfMatch, routeFunctionUrlEvent } from '#functions/files/handler.js';
import type { ApiEvent } from '#functions/_lib/api.js';

describe('files handler helpers', () => {
  it('builds an RFC 6266 Content-Disposition with an ASCII fallback and the exact UTF-8 name', () => {
    const cd = contentDisposition('a "b"; c%d\\e – 文件.txt');
    expect(cd.startsWith('attachment; filename="a _b__ c_d_e _ __.txt"; filename*=UTF-8\'\'')).toBe(true);
    expect(decodeURIComponent(cd.split("UTF-8''")[1] ?? '')).toBe('a "b"; c%d\\e – 文件.txt');
    expect(cd).not.toMatch(/[\r\n]/);
  });

  it('reads If-Match as a version number, a quoted number or a download ETag', () => {
    expect(parseIfMatch(undefined)).toBeUndefined();
    expect(parseIfMatch('3')).toBe(3);
    expect(parseIfMatch('"3"')).toBe(3);
    expect(parseIfMatch(`"${'a'.repeat(64)}.7"`)).toBe(7);
    expect(() => parseIfMatch('abc')).toThrow(/If-Match/);
  });

  it('buffers a small streamed result as base64 and answers 413 with a hint for a large one', async () => {
    const small = await bufferResult({ statusCode: 200, headers: { 'Content-Length': '5' }, stream: Readable.from([Buffer.from('hello')]) }, 10);
    expect(small.isBase64Encoded).toBe(true);
    expect(Buffer.from(small.body ?? '', 'base64').toString()).toBe('hello');
    expect(small.stream).toBeUndefined();
    const big = await bufferResult({ statusCode: 200, headers: { 'Content-Length': '50' }, stream: Readable.from([Buffer.alloc(50)]) }, 10);
    expect(big.statusCode).toBe(413);
    expect(big.body).toMatch(/manifest/);
    const undeclared = await bufferResult({ statusCode: 200, stream: Readable.from([Buffer.alloc(6), Buffer.alloc(6)]) }, 10);
    expect(undeclared.statusCode).toBe(413);
  });

  it('routes a Function URL event ($default) by method and path', () => {
    const e = routeFunctionUrlEvent({ routeKey: '$default', rawPath: '/api/v1/files/abc/download', requestContext: { http: { method: 'GET' } } } as unknown as ApiEvent);
    expect(e.routeKey).toBe('GET /api/v1/files/{id}/download');
    expect(e.pathParameters).toEqual({ id: 'abc' });
  });
});
