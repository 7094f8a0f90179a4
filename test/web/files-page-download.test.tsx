// @vitest-environment jsdom
/**
 * The files page's Download button for a file larger than one streamed response: the page fetches
 * the manifest, then every chunk from its presigned URL (decoded, verified), and saves the
 * assembled file; the streaming route is never asked. A small file still comes streamed. Without the
 * File System Access API (like Firefox) the page fetches no bytes: it asks for a signed link and
 * hands it to the browser's download.
 */
import { createHash, randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { createApi } from '../../web/src/api.js';
import { FilesPage } from '../../web/src/components/FilesPage.js';
import { ToastProvider } from '../../web/src/components/ui.js';
import { STREAM_MAX_BYTES } from '../../shared/downloads.js';
import { fakeFetch } from './fake-fetch.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const STATUS = { mode: 'C', replicas: [{ region: 'us-east-1', reachable: true }] };

/** What was written into the files chosen in the (fake) save dialog, once closed. */
let saved: Blob[] = [];
/** The links clicked for the browser's own download. */
let clicked: { href: string; download: string }[] = [];
/** Requests to the presigned S3 URLs (the page's global fetch). */
let s3Requests: { url: string; init?: RequestInit }[] = [];

beforeEach(() => {
  saved = [];
  clicked = [];
  s3Requests = [];
  // The File System Access API's save dialog (Chromium), writing into memory.
  const picker = async () => {
    const parts: Uint8Array[] = [];
    return { createWritable: async () => ({ write: async (b: Uint8Array) => void parts.push(b), close: async () => void saved.push(new Blob(parts as Uint8Array<ArrayBuffer>[])), abort: async () => undefined }) };
  };
  Object.defineProperty(window, 'showSaveFilePicker', { configurable: true, value: picker });
  // jsdom does not navigate: a click on the download link is recorded.
  vi.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
    clicked.push({ href: this.href, download: this.download });
  });
});
afterEach(() => {
  delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker;
  cleanup();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('FilesPage downloads', () => {
  it('downloads a file over the streaming limit chunk by chunk from the manifest and saves the verified bytes', async () => {
    const parts = [randomBytes(4096), Buffer.alloc(3000, 42)];
    const stored = [Buffer.concat([Buffer.of(0), parts[0]!]), Buffer.concat([Buffer.of(1), deflateRawSync(parts[1]!)])];
    const whole = Buffer.concat(parts);
    const big = { file_id: 'big1', name: 'film.mkv', size: STREAM_MAX_BYTES + 1024, version: 1, chunks: 2, uploaded: new Date().toISOString() };
    vi.stubGlobal('fetch', async (input: string | URL | Request, init?: RequestInit) => {
      const url = String(input);
      s3Requests.push({ url, init });
      const i = url.includes(sha(parts[0]!)) ? 0 : url.includes(sha(parts[1]!)) ? 1 : -1;
      return i < 0 ? new Response('missing', { status: 404 }) : new Response(new Uint8Array(stored[i]!));
    });
    const f = fakeFetch({
      'GET /v1/status': () => ({ body: STATUS }),
      'GET /api/v1/files': () => ({ body: { success: true, data: { files: [big] } } }),
      'GET /api/v1/files/{id}/download': () => ({ status: 500, body: { error: { code: 'internal_error', message: 'must not be called' } } }),
      'GET /api/v1/files/{id}/manifest': () => ({
        body: {
          success: true,
          data: {
            file_id: 'big1', name: 'film.mkv', size: whole.length, version: 1, sha256: sha(whole), content_type: 'video/x-matroska', expires_in: 900,
            chunks: [
              { index: 0, hash: sha(parts[0]!), size: parts[0]!.length, offset: 0, compressed: false, region: 'us-east-1', url: `https://b.s3.us-east-1.amazonaws.com/chunks/u/${sha(parts[0]!)}?X-Amz-Signature=s` },
              { index: 1, hash: sha(parts[1]!), size: parts[1]!.length, offset: parts[0]!.length, compressed: true, region: 'us-east-1', url: `https://b.s3.us-east-1.amazonaws.com/chunks/u/${sha(parts[1]!)}?X-Amz-Signature=s` },
            ],
          },
        },
      }),
    });
    render(
      <ToastProvider>
        <FilesPage api={createApi({ fetch: f.fetch, getToken: () => 't' })} />
      </ToastProvider>,
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Download film.mkv' }));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(Buffer.from(await saved[0]!.arrayBuffer()).equals(whole)).toBe(true);
    expect(f.calls.map((c) => c.path)).toContain('/api/v1/files/big1/manifest');
    expect(f.calls.map((c) => c.path)).not.toContain('/api/v1/files/big1/download');
    expect(s3Requests).toHaveLength(2);
    for (const r of s3Requests) expect(r.init?.credentials).toBe('omit');
    // The button is usable again and no error was shown.
    await waitFor(() => expect((screen.getByRole('button', { name: 'Download film.mkv' }) as HTMLButtonElement).disabled).toBe(false));
    expect(screen.queryByText(/Download failed/)).toBeNull();
  });

  it('shows an error and saves nothing when a chunk arrives damaged', async () => {
    const part = randomBytes(2048);
    const big = { file_id: 'big2', name: 'disk.img', size: STREAM_MAX_BYTES + 2048, version: 1, chunks: 1, uploaded: new Date().toISOString() };
    vi.stubGlobal('fetch', async () => new Response(new Uint8Array(Buffer.concat([Buffer.of(0), Buffer.alloc(2048, 9)]))));
    const f = fakeFetch({
      'GET /v1/status': () => ({ body: STATUS }),
      'GET /api/v1/files': () => ({ body: { success: true, data: { files: [big] } } }),
      'GET /api/v1/files/{id}/manifest': () => ({
        body: { data: { file_id: 'big2', name: 'disk.img', size: 2048, version: 1, chunks: [{ index: 0, hash: sha(part), size: 2048, offset: 0, compressed: false, url: 'https://b.s3.us-east-1.amazonaws.com/x' }] } },
      }),
    });
    render(
      <ToastProvider>
        <FilesPage api={createApi({ fetch: f.fetch, getToken: () => 't' })} />
      </ToastProvider>,
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Download disk.img' }));
    expect(await screen.findByText(/Download failed: Part 1 of the file arrived damaged/)).toBeTruthy();
    expect(saved).toHaveLength(0);
  });

  it('without a save dialog (no File System Access API), hands a signed link to the browser download and fetches no bytes', async () => {
    delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker;
    const huge = { file_id: 'h1', name: 'backup.tar', size: 300 * 1024 * 1024, version: 2, chunks: 300, uploaded: new Date().toISOString() };
    const f = fakeFetch({
      'GET /v1/status': () => ({ body: STATUS }),
      'GET /api/v1/files': () => ({ body: { success: true, data: { files: [huge] } } }),
      'POST /api/v1/files/{id}/download-link': () => ({
        body: { success: true, data: { url: '/api/v1/files/h1/download?link=signed', expires_at: new Date(Date.now() + 60_000).toISOString(), expires_in_seconds: 60 } },
      }),
    });
    render(
      <ToastProvider>
        <FilesPage api={createApi({ fetch: f.fetch, getToken: () => 't' })} />
      </ToastProvider>,
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Download backup.tar' }));
    await waitFor(() => expect(clicked).toHaveLength(1));
    expect(clicked[0]).toEqual({ href: new URL('/api/v1/files/h1/download?link=signed', window.location.href).href, download: 'backup.tar' });
    expect(f.calls.map((c) => c.path).filter((p) => p.includes('/h1/'))).toEqual(['/api/v1/files/h1/download-link']);
    expect(saved).toHaveLength(0);
    expect(screen.queryByText(/Download failed/)).toBeNull();
  });

  it('without a save dialog, a file too large for one streamed response is refused with a clear message, nothing downloaded', async () => {
    delete (window as { showSaveFilePicker?: unknown }).showSaveFilePicker;
    const huge = { file_id: 'h2', name: 'huge.iso', size: STREAM_MAX_BYTES + 1, version: 1, chunks: 200, uploaded: new Date().toISOString() };
    const f = fakeFetch({
      'GET /v1/status': () => ({ body: STATUS }),
      'GET /api/v1/files': () => ({ body: { success: true, data: { files: [huge] } } }),
      'POST /api/v1/files/{id}/download-link': () => ({ status: 413, body: { success: false, error: { code: 'download_too_large', message: 'too large' } } }),
    });
    render(
      <ToastProvider>
        <FilesPage api={createApi({ fetch: f.fetch, getToken: () => 't' })} />
      </ToastProvider>,
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Download huge.iso' }));
    expect(await screen.findByText(/Download failed: “huge.iso” is too large for this browser/)).toBeTruthy();
    expect(clicked).toHaveLength(0);
  });

  it('still streams a small file in one response, with the download token header', async () => {
    const small = { file_id: 's1', name: 'notes.txt', size: 5, version: 1, chunks: 1, uploaded: new Date().toISOString() };
    const seen: Record<string, string>[] = [];
    const f = fakeFetch({
      'GET /v1/status': () => ({ body: STATUS }),
      'GET /api/v1/files': () => ({ body: { success: true, data: { files: [small] } } }),
      'GET /api/v1/files/{id}/download': ({ headers }) => {
        seen.push(headers);
        return { body: 'hello' };
      },
    });
    render(
      <ToastProvider>
        <FilesPage api={createApi({ fetch: f.fetch, getToken: () => 't' })} />
      </ToastProvider>,
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Download notes.txt' }));
    await waitFor(() => expect(saved).toHaveLength(1));
    expect(f.calls.map((c) => c.path)).not.toContain('/api/v1/files/s1/manifest');
    expect(seen[0]?.['x-echofs-authorization']).toBe('Bearer t');
  });
});
