import { useCallback, useEffect, useState } from 'react';
import { errorMessage, type Api, type FilePage, type FileSummary } from '../api.js';
import { formatBytes, formatDate, formatRelative } from '../format.js';
import { Dialog, EmptyState, ErrorBanner, Spinner, useToast } from './ui.js';
import { PAGE_SIZE } from './FilesPage.js';

/** Deleted files (the server keeps them restorable), page by page with the server's cursor. */
export function TrashPage({ api }: { api: Api }) {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [pageNo, setPageNo] = useState(0);
  const [page, setPage] = useState<FilePage>();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState<string>();
  const [confirming, setConfirming] = useState<FileSummary>();
  const notify = useToast();

  const load = useCallback(async () => {
    try {
      const p = await api.listPage({ deleted: true, limit: PAGE_SIZE, cursor: cursors[pageNo] });
      setPage(p);
      setCursors((cs) => {
        const next = cs.slice(0, pageNo + 1);
        if (p.nextCursor) next[pageNo + 1] = p.nextCursor;
        return next;
      });
      setError(undefined);
    } catch (err) {
      setError(errorMessage(err));
    }
    // The cursor of this page is known once the page before it was read.
  }, [api, pageNo]);

  useEffect(() => {
    void load();
  }, [load]);

  const restore = async (id: string, name: string) => {
    setBusy(id);
    try {
      await api.restoreFile(id);
      setPage((p) => (p ? { ...p, items: p.items.filter((f) => f.id !== id) } : p));
      notify({ message: `Restored “${name}” to your files.`, tone: 'success' });
    } catch (err) {
      notify({ message: `Could not restore “${name}”: ${errorMessage(err)}`, tone: 'error' });
    } finally {
      setBusy(undefined);
    }
  };

  const deleteForever = async (f: FileSummary) => {
    setConfirming(undefined);
    setBusy(f.id);
    try {
      await api.deleteForever(f.id);
      setPage((p) => (p ? { ...p, items: p.items.filter((x) => x.id !== f.id) } : p));
      notify({ message: `Deleted “${f.name}” forever.`, tone: 'success' });
    } catch (err) {
      notify({ message: `Could not delete “${f.name}”: ${errorMessage(err)}`, tone: 'error' });
    } finally {
      setBusy(undefined);
    }
  };

  const items = page?.items;
  return (
    <div className="page trash-page">
      <div className="page-head">
        <div>
          <h1>Trash</h1>
          <p className="muted" data-testid="trash-retention">
            {retentionText(page?.retentionSeconds)} Restore puts a file back in your files; Delete forever removes it and all its versions at once.
          </p>
        </div>
        <div className="actions">
          <button type="button" className="btn btn-ghost" onClick={() => void load()} aria-label="Refresh the trash">
            Refresh
          </button>
        </div>
      </div>
      {error && <ErrorBanner message={error} onRetry={() => void load()} />}
      {!items && !error ? (
        <div className="card loading-card">
          <Spinner label="Loading the trash" /> Loading the trash…
        </div>
      ) : items && items.length === 0 && pageNo === 0 ? (
        <div className="card">
          <EmptyState title="The trash is empty" icon="🗑">
            <p>Files you delete appear here and can be restored.</p>
          </EmptyState>
        </div>
      ) : items ? (
        <div className="card table-card">
          <table className="table files-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Size</th>
                <th scope="col">Last version</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((f) => (
                <tr key={f.id} data-trash={f.name}>
                  <td data-label="Name">
                    <div className="cell-name">
                      <span className="file-icon" aria-hidden="true">▤</span>
                      <span className="file-name" title={f.name}>{f.name}</span>
                    </div>
                  </td>
                  <td data-label="Size">{formatBytes(f.size)}</td>
                  <td data-label="Last version" title={f.uploadedAt ? formatDate(f.uploadedAt) : undefined}>
                    v{f.version} · {formatRelative(f.uploadedAt)}
                  </td>
                  <td className="cell-actions">
                    <button type="button" className="btn btn-small" disabled={busy === f.id} onClick={() => void restore(f.id, f.name)} aria-label={`Restore ${f.name}`}>
                      Restore
                    </button>
                    <button type="button" className="btn btn-small btn-danger-ghost" disabled={busy === f.id} onClick={() => setConfirming(f)} aria-label={`Delete forever: ${f.name}`}>
                      Delete forever
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {(pageNo > 0 || page?.nextCursor) && (
            <nav className="pager" aria-label="Pages of the trash">
              <button type="button" className="btn btn-small" disabled={pageNo === 0} onClick={() => setPageNo((n) => Math.max(0, n - 1))}>
                Previous
              </button>
              <span className="muted small">Page {pageNo + 1}</span>
              <button type="button" className="btn btn-small" disabled={!page?.nextCursor} onClick={() => setPageNo((n) => n + 1)}>
                Next
              </button>
            </nav>
          )}
        </div>
      ) : null}
      <Dialog open={confirming !== undefined} title="Delete forever?" onClose={() => setConfirming(undefined)}>
        {confirming && (
          <div data-confirm={confirming.name}>
            <p className="confirm-text">
              <strong className="file-name-wrap">{confirming.name}</strong> and all {confirming.version === 1 ? 'its version' : `its ${confirming.version} versions`} will be deleted for good. This cannot be undone.
            </p>
            <div className="form-actions">
              <button type="button" className="btn btn-ghost" onClick={() => setConfirming(undefined)}>
                Cancel
              </button>
              <button type="button" className="btn btn-danger" onClick={() => void deleteForever(confirming)}>
                Delete forever
              </button>
            </div>
          </div>
        )}
      </Dialog>
    </div>
  );
}

/** What the server does with files in the trash, from its retention period. */
export function retentionText(seconds: number | undefined): string {
  if (seconds === undefined) return 'Deleted files stay here, with all their versions, for the retention period the server sets.';
  if (seconds <= 0) return 'Deleted files stay here, with all their versions, until you delete them forever.';
  const days = seconds / 86400;
  const span =
    days >= 1 ? `${Math.round(days)} day${Math.round(days) === 1 ? '' : 's'}` : seconds >= 3600 ? `${Math.round(seconds / 3600)} hour${Math.round(seconds / 3600) === 1 ? '' : 's'}` : `${Math.max(1, Math.round(seconds / 60))} minute${Math.round(seconds / 60) === 1 ? '' : 's'}`;
  return `Deleted files stay here, with all their versions, for ${span}; then they are deleted for good.`;
}
