// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { createApi } from '../../web/src/api.js';
import { FilesPage, replicaLabel } from '../../web/src/components/FilesPage.js';
import { ToastProvider } from '../../web/src/components/ui.js';
import { UploadQueue } from '../../web/src/upload.js';
import { fakeFetch } from './fake-fetch.js';

afterEach(cleanup);

const FILE = {
  file_id: 'f1', name: 'report.pdf', size: 3 * 1024 * 1024, version: 2, chunks: 3, uploaded: new Date().toISOString(),
  replicas: { chunks: 3, present: { 'us-east-1': 3, 'eu-west-1': 3, 'ap-southeast-1': 1 }, complete: ['us-east-1', 'eu-west-1'], under_replicated: 0 },
};
const STATUS = { mode: 'C', replicas: [{ region: 'us-east-1', reachable: true }, { region: 'eu-west-1', reachable: true }, { region: 'ap-southeast-1', reachable: true }] };

function renderPage(routes: Parameters<typeof fakeFetch>[0], queue?: (api: ReturnType<typeof createApi>) => UploadQueue) {
  const f = fakeFetch({ 'GET /v1/status': () => ({ body: STATUS }), ...routes });
  const api = createApi({ fetch: f.fetch, getToken: () => 't' });
  render(
    <ToastProvider>
      <FilesPage api={api} queue={queue?.(api)} />
    </ToastProvider>,
  );
  return f;
}

describe('FilesPage', () => {
  it('lists name, size, version and replica status of each file', async () => {
    renderPage({ 'GET /api/v1/files': () => ({ body: { success: true, data: [FILE] } }) });
    const row = (await screen.findByText('report.pdf')).closest('tr') as HTMLElement;
    expect(within(row).getByText('3.00 MiB')).toBeTruthy();
    expect(within(row).getByText('v2')).toBeTruthy();
    expect(within(row).getByText('just now')).toBeTruthy();
    await waitFor(() => expect(within(row).getByText('Replicating · 2/3')).toBeTruthy());
  });

  it('shows an empty state, and an error with a retry that recovers', async () => {
    let fail = true;
    renderPage({
      'GET /api/v1/files': () => (fail ? { status: 500, body: { success: false, error: { code: 'internal_error', message: 'Internal error.' } } } : { body: { data: [] } }),
    });
    expect((await screen.findByRole('alert')).textContent).toContain('The server could not complete this request.');
    fail = false;
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    expect(await screen.findByText('No files yet')).toBeTruthy();
  });

  it('deletes a file and restores it from the Undo action', async () => {
    let deleted = false;
    const f = renderPage({
      'GET /api/v1/files': () => ({ body: { data: deleted ? [] : [FILE] } }),
      'DELETE /api/v1/files/{id}': () => {
        deleted = true;
        return { body: { success: true } };
      },
      'POST /api/v1/files/{id}/restore': () => {
        deleted = false;
        return { body: { success: true, data: FILE } };
      },
    });
    fireEvent.click(await screen.findByRole('button', { name: 'Delete report.pdf' }));
    expect(await screen.findByText('Deleted “report.pdf”.')).toBeTruthy();
    await waitFor(() => expect(screen.queryByRole('button', { name: 'Delete report.pdf' })).toBeNull());
    fireEvent.click(screen.getByRole('button', { name: 'Undo' }));
    expect(await screen.findByRole('button', { name: 'Delete report.pdf' })).toBeTruthy();
    expect(f.calls.filter((c) => c.path === '/api/v1/files/f1/restore')).toHaveLength(1);
  });

  it('uploads chosen files through chunk sessions, shows a progress bar per file, and refreshes the list', async () => {
    const committed: string[] = [];
    renderPage(
      {
        'GET /api/v1/files': () => ({ body: { data: committed.map((n, i) => ({ ...FILE, file_id: `f${i}`, name: n })) } }),
        'POST /api/v1/uploads': ({ body }) => ({ status: 201, body: { data: { upload_id: `s-${(body as { name: string }).name}`, missing: (body as { chunks: { hash: string }[] }).chunks.map((c) => c.hash) } } }),
        'PUT /api/v1/uploads/{id}/chunks/{hash}': () => ({ body: { success: true } }),
        'POST /api/v1/uploads/{id}/commit': ({ path }) => {
          const name = decodeURIComponent(path.split('/')[4] ?? '').slice(2);
          committed.push(name);
          return { body: { data: { ...FILE, name } } };
        },
      },
      (api) => new UploadQueue(api, { sleep: async () => undefined }),
    );
    await screen.findByText('No files yet');
    const input = screen.getByTestId('file-input') as HTMLInputElement;
    const files = [new File(['hello'], 'a.txt'), new File([new Uint8Array(2000)], 'b.bin')];
    fireEvent.change(input, { target: { files } });
    await waitFor(() => expect(screen.getAllByText('Uploaded')).toHaveLength(2), { timeout: 5000 });
    const bars = screen.getAllByRole('progressbar');
    expect(bars.map((b) => b.getAttribute('aria-valuenow'))).toEqual(['100', '100']);
    expect(committed.sort()).toEqual(['a.txt', 'b.bin']);
    expect(await screen.findByRole('button', { name: 'Download a.txt' })).toBeTruthy();
  });

  it('cancels an upload in flight: the bar stops, the session is discarded and nothing is committed', async () => {
    const calls: string[] = [];
    renderPage(
      {
        'GET /api/v1/files': () => ({ body: { data: [] } }),
        'POST /api/v1/uploads': ({ body }) => ({ status: 201, body: { data: { upload_id: 's1', missing: (body as { chunks: { hash: string }[] }).chunks.map((c) => c.hash) } } }),
        'PUT /api/v1/uploads/{id}/chunks/{hash}': () => new Promise(() => undefined), // never answers
        'DELETE /api/v1/uploads/{id}': () => {
          calls.push('abort');
          return { body: { success: true } };
        },
        'POST /api/v1/uploads/{id}/commit': () => {
          calls.push('commit');
          return { body: { data: FILE } };
        },
      },
      (api) => new UploadQueue(api, { sleep: async () => undefined }),
    );
    await screen.findByText('No files yet');
    fireEvent.change(screen.getByTestId('file-input'), { target: { files: [new File(['x'.repeat(5000)], 'slow.txt')] } });
    await screen.findByText('Uploading 10%');
    fireEvent.click(screen.getByRole('button', { name: 'Cancel upload of slow.txt' }));
    expect(await screen.findByText('Cancelled')).toBeTruthy();
    await waitFor(() => expect(calls).toEqual(['abort']));
    expect(screen.getByRole('button', { name: 'Dismiss slow.txt' })).toBeTruthy();
  });

  it('shows an upload refused for the quota at its own row, in the error map’s words with the server’s figures, and moves focus there', async () => {
    renderPage(
      {
        'GET /api/v1/files': () => ({ body: { data: [] } }),
        'POST /api/v1/uploads': () => ({
          status: 413,
          body: { success: false, error: { code: 'quota_exceeded', message: 'Storing 5000 more bytes would exceed your quota: 1000 of 4096 bytes are used.' } },
        }),
      },
      (api) => new UploadQueue(api, { sleep: async () => undefined }),
    );
    await screen.findByText('No files yet');
    fireEvent.change(screen.getByTestId('file-input'), { target: { files: [new File(['x'.repeat(5000)], 'big.txt')] } });
    const row = await waitFor(() => {
      const el = document.querySelector('[data-upload="big.txt"][data-error-code="quota_exceeded"]');
      if (!el) throw new Error('no failed row yet');
      return el as HTMLElement;
    });
    const alert = within(row).getByRole('alert');
    expect(alert.textContent).toContain('Your storage is full. Delete files you no longer need');
    expect(alert.textContent).toContain('1000 of 4096 bytes are used');
    await waitFor(() => expect(document.activeElement).toBe(row));
    expect(row.getAttribute('aria-describedby')).toBe(alert.id);
    expect(within(row).getByRole('button', { name: 'Dismiss big.txt' })).toBeTruthy();
  });

  it('shows a taken name, a file too large and a write refused for a critical key at each upload’s row', async () => {
    const declared = new Map<string, string[]>();
    renderPage(
      {
        'GET /api/v1/files': () => ({ body: { data: [] } }),
        'POST /api/v1/uploads': ({ body }) => {
          const name = (body as { name: string }).name;
          if (name === 'huge.iso') return { status: 413, body: { success: false, error: { code: 'file_too_large', message: 'File is 9000 bytes; the maximum file size is 10 bytes.' } } };
          declared.set(`s-${name}`, (body as { chunks: { hash: string }[] }).chunks.map((c) => c.hash));
          return { status: 201, body: { data: { upload_id: `s-${name}`, missing: declared.get(`s-${name}`) } } };
        },
        'GET /api/v1/uploads/{id}': ({ path }) => {
          const id = decodeURIComponent(path.split('/')[4] ?? '');
          return { body: { data: { upload_id: id, missing: declared.get(id) ?? [] } } };
        },
        'PUT /api/v1/uploads/{id}/chunks/{hash}': ({ path }) =>
          path.includes('ledger')
            ? { status: 503, headers: { 'Retry-After': '1' }, body: { success: false, error: { code: 'replicas_unavailable', message: 'internal detail' } } }
            : { body: { success: true } },
        'POST /api/v1/uploads/{id}/commit': () => ({ status: 409, body: { success: false, error: { code: 'name_taken', message: "A file named 'notes.txt' exists already; choose another name." } } }),
      },
      (api) => new UploadQueue(api, { sleep: async () => undefined, maxAttempts: 2, parallelFiles: 3 }),
    );
    await screen.findByText('No files yet');
    fireEvent.change(screen.getByTestId('file-input'), {
      target: { files: [new File(['n'], 'notes.txt'), new File(['h'.repeat(9000)], 'huge.iso'), new File(['l'], 'ledger.csv')] },
    });
    const failedRow = (name: string, code: string) =>
      waitFor(() => {
        const el = document.querySelector(`[data-upload="${name}"][data-error-code="${code}"]`);
        if (!el) throw new Error(`${name} has not failed with ${code}`);
        return el as HTMLElement;
      });
    const taken = await failedRow('notes.txt', 'name_taken');
    expect(within(taken).getByRole('alert').textContent).toContain("A file named 'notes.txt' exists already");
    const huge = await failedRow('huge.iso', 'file_too_large');
    expect(within(huge).getByRole('alert').textContent).toContain('This file is larger than the server accepts.');
    const ledger = await failedRow('ledger.csv', 'replicas_unavailable');
    const text = within(ledger).getByRole('alert').textContent ?? '';
    expect(text).toContain('Not enough storage regions are reachable to save this safely');
    expect(text).toContain('gave up after 2 attempts');
    expect(text).not.toContain('internal detail');
    expect(within(ledger).getByRole('button', { name: 'Resume upload of ledger.csv' })).toBeTruthy();
    // Focus sits on a failed row (the latest to fail).
    expect([taken, huge, ledger]).toContain(document.activeElement);
  });

  it('labels replicas complete only when every region holds every chunk', () => {
    const base = { id: 'x', name: 'x', size: 1, uploadedAt: '', version: 1, chunks: 1 };
    const regions = ['r1', 'r2', 'r3'];
    expect(replicaLabel({ ...base, replicas: { chunks: 1, present: {}, complete: ['r1', 'r2', 'r3'], underReplicated: 0 } }, regions)).toEqual({ text: '3/3 regions', tone: 'ok' });
    expect(replicaLabel({ ...base, replicas: { chunks: 1, present: {}, complete: ['r1'], underReplicated: 1 } }, regions).tone).toBe('warn');
    expect(replicaLabel(base, regions).text).toBe('—');
  });
});
