import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore, type DragEvent } from 'react';
import { errorMessage, type Api, type FileSummary, type FileVersion, type Hint, type ModeAnswer } from '../api.js';
import { downloadFile } from '../download.js';
import { formatBytes, formatDate, formatRelative } from '../format.js';
import { FINISHED, overallProgress, phaseLabel, UploadQueue, type UploadItem } from '../upload.js';
import { Dialog, EmptyState, ErrorBanner, ModeBadge, ProgressBar, Spinner, useToast } from './ui.js';

/** Save a blob under a file name through a temporary object URL. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export function replicaLabel(f: FileSummary, regions: readonly string[]): { text: string; tone: 'ok' | 'warn' | 'muted' } {
  const r = f.replicas;
  if (!r) return { text: '—', tone: 'muted' };
  const total = regions.length || Math.max(r.complete.length, Object.keys(r.present).length);
  if (r.chunks === 0) return { text: 'Empty file', tone: 'muted' };
  if (r.complete.length >= total && r.underReplicated === 0) return { text: `${r.complete.length}/${total} regions`, tone: 'ok' };
  return { text: `Replicating · ${r.complete.length}/${total}`, tone: 'warn' };
}

export function FilesPage({ api, queue: injectedQueue }: { api: Api; queue?: UploadQueue }) {
  const [files, setFiles] = useState<FileSummary[]>();
  const [error, setError] = useState<string>();
  const [regions, setRegions] = useState<string[]>([]);
  const [dragging, setDragging] = useState(false);
  const [details, setDetails] = useState<FileSummary>();
  const [busy, setBusy] = useState<string>();
  const [progress, setProgress] = useState<{ id: string; percent: number }>();
  const notify = useToast();
  const input = useRef<HTMLInputElement>(null);
  const dragDepth = useRef(0);

  const load = useCallback(async () => {
    try {
      setFiles(await api.listFiles());
      setError(undefined);
    } catch (err) {
      setError(errorMessage(err));
    }
  }, [api]);

  const queue = useMemo(() => injectedQueue ?? new UploadQueue(api, { parallelFiles: 2, concurrency: 4 }), [api, injectedQueue]);
  useEffect(() => {
    const onDone = () => void load();
    let last = 0;
    const unsub = queue.subscribe(() => {
      const done = queue.snapshot().filter((i) => i.phase === 'done').length;
      if (done > last) onDone();
      last = done;
    });
    return () => {
      unsub();
    };
  }, [queue, load]);
  useEffect(() => () => queue.cancelAll(), [queue]);
  const uploads = useSyncExternalStore(queue.subscribe, queue.snapshot);

  useEffect(() => {
    void load();
    // Region names for the replica column (best effort: the status is informative only).
    api.status().then((s) => setRegions(s.regions.map((r) => r.region)), () => undefined);
  }, [api, load]);

  // While copies are still replicating, refresh now and then so the column catches up.
  const replicating = files?.some((f) => f.replicas && f.replicas.underReplicated > 0) ?? false;
  useEffect(() => {
    if (!replicating) return;
    const t = setInterval(() => void load(), 5000);
    return () => clearInterval(t);
  }, [replicating, load]);

  const addFiles = (list: FileList | null) => {
    if (!list || list.length === 0) return;
    queue.add(Array.from(list, (f) => ({ name: f.name, blob: f })));
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    dragDepth.current = 0;
    setDragging(false);
    addFiles(e.dataTransfer.files);
  };

  /** The current version (size from the list) or an older one (size from its version entry). */
  const download = async (f: FileSummary, version?: number, size?: number) => {
    setBusy(f.id);
    try {
      // Files too large for one streamed response come chunk by chunk from presigned URLs.
      const { blob, filename } = await downloadFile(api, f.id, {
        version,
        size: size ?? (version === undefined ? f.size : undefined),
        onProgress: (done, total) => setProgress({ id: f.id, percent: total > 0 ? Math.floor((100 * done) / total) : 100 }),
      });
      saveBlob(blob, filename ?? f.name);
    } catch (err) {
      notify({ message: `Download failed: ${errorMessage(err)}`, tone: 'error' });
    } finally {
      setBusy(undefined);
      setProgress(undefined);
    }
  };

  const remove = async (f: FileSummary) => {
    setBusy(f.id);
    try {
      await api.deleteFile(f.id);
      setFiles((fs) => fs?.filter((x) => x.id !== f.id));
      notify(
        {
          message: `Deleted “${f.name}”.`,
          action: {
            label: 'Undo',
            run: () => {
              api.restoreFile(f.id).then(
                () => {
                  notify({ message: `Restored “${f.name}”.`, tone: 'success' });
                  void load();
                },
                (err: unknown) => notify({ message: `Could not restore: ${errorMessage(err)}`, tone: 'error' }),
              );
            },
          },
        },
        10_000,
      );
    } catch (err) {
      notify({ message: `Could not delete: ${errorMessage(err)}`, tone: 'error' });
    } finally {
      setBusy(undefined);
    }
  };

  const active = uploads.filter((u) => !FINISHED.has(u.phase)).length;

  return (
    <div
      className={`page files-page${dragging ? ' dragging' : ''}`}
      onDragEnter={(e) => {
        if (!e.dataTransfer.types.includes('Files')) return;
        e.preventDefault();
        dragDepth.current++;
        setDragging(true);
      }}
      onDragOver={(e) => {
        if (e.dataTransfer.types.includes('Files')) e.preventDefault();
      }}
      onDragLeave={() => {
        dragDepth.current = Math.max(0, dragDepth.current - 1);
        if (dragDepth.current === 0) setDragging(false);
      }}
      onDrop={onDrop}
      data-testid="dropzone"
    >
      <div className="page-head">
        <div>
          <h1>Files</h1>
          <p className="muted">{files ? `${files.length} file${files.length === 1 ? '' : 's'}` : 'Loading…'} · drop files anywhere on this page to upload</p>
        </div>
        <div className="actions">
          <button type="button" className="btn btn-ghost" onClick={() => void load()} aria-label="Refresh the file list">
            Refresh
          </button>
          <button type="button" className="btn btn-primary" onClick={() => input.current?.click()}>
            Upload files
          </button>
          <input
            ref={input}
            type="file"
            multiple
            hidden
            aria-label="Choose files to upload"
            data-testid="file-input"
            onChange={(e) => {
              addFiles(e.target.files);
              e.target.value = '';
            }}
          />
        </div>
      </div>

      {dragging && (
        <div className="drop-overlay" aria-hidden="true">
          <div>Drop to upload</div>
        </div>
      )}

      {uploads.length > 0 && (
        <section className="card uploads" aria-label="Uploads">
          <div className="card-head">
            <h2>Uploads {active > 0 && <span className="muted">· {active} in progress</span>}</h2>
            {uploads.some((u) => u.phase === 'done' || u.phase === 'cancelled') && (
              <button type="button" className="btn btn-ghost btn-small" onClick={() => queue.clearFinished()}>
                Clear finished
              </button>
            )}
          </div>
          <ul className="upload-list">
            {uploads.map((u) => (
              <UploadRow key={u.id} item={u} queue={queue} />
            ))}
          </ul>
        </section>
      )}

      {error && <ErrorBanner message={error} onRetry={() => void load()} />}

      {!files && !error ? (
        <div className="card loading-card">
          <Spinner label="Loading files" /> Loading your files…
        </div>
      ) : files && files.length === 0 ? (
        <div className="card">
          <EmptyState title="No files yet" icon="⇪">
            <p>Drag files here, or choose them to upload. Large files are sent in 1 MiB chunks and resume after a lost connection.</p>
            <button type="button" className="btn btn-primary" onClick={() => input.current?.click()}>
              Choose files
            </button>
          </EmptyState>
        </div>
      ) : files ? (
        <div className="card table-card">
          <table className="table files-table">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Size</th>
                <th scope="col">Modified</th>
                <th scope="col">Version</th>
                <th scope="col">Replicas</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {files.map((f) => {
                const rep = replicaLabel(f, regions);
                return (
                  <tr key={f.id} data-file={f.name}>
                    <td data-label="Name">
                      <div className="cell-name">
                        <span className="file-icon" aria-hidden="true">▤</span>
                        <span className="file-name" title={f.name}>{f.name}</span>
                      </div>
                    </td>
                    <td data-label="Size">{formatBytes(f.size)}</td>
                    <td data-label="Modified" title={f.uploadedAt ? formatDate(f.uploadedAt) : undefined}>{formatRelative(f.uploadedAt)}</td>
                    <td data-label="Version">v{f.version}</td>
                    <td data-label="Replicas">
                      <span className={`pill pill-${rep.tone}`}>{rep.text}</span>
                    </td>
                    <td className="cell-actions">
                      <button type="button" className="btn btn-small" onClick={() => void download(f)} disabled={busy === f.id} aria-label={`Download ${f.name}`}>
                        {progress?.id === f.id ? `Downloading ${progress.percent} %` : 'Download'}
                      </button>
                      <button type="button" className="btn btn-small btn-ghost" onClick={() => setDetails(f)} aria-label={`Versions of ${f.name}`}>
                        Versions
                      </button>
                      <button type="button" className="btn btn-small btn-danger-ghost" onClick={() => void remove(f)} disabled={busy === f.id} aria-label={`Delete ${f.name}`}>
                        Delete
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}

      <Dialog open={details !== undefined} title={details ? details.name : ''} onClose={() => setDetails(undefined)}>
        {details && <FileDetails api={api} file={details} onDownload={(v) => void download(details, v.version, v.size)} />}
      </Dialog>
    </div>
  );
}

function UploadRow({ item, queue }: { item: UploadItem; queue: UploadQueue }) {
  const progress = overallProgress(item);
  const tone = item.phase === 'failed' ? 'error' : item.phase === 'retrying' ? 'warn' : item.phase === 'cancelled' ? 'muted' : 'ok';
  return (
    <li className={`upload upload-${item.phase}`} data-upload={item.name}>
      <div className="upload-top">
        <span className="file-name" title={item.name}>{item.name}</span>
        <span className="muted upload-size">{formatBytes(item.size)}</span>
      </div>
      <ProgressBar value={progress} label={`Upload of ${item.name}`} tone={tone} />
      <div className="upload-bottom">
        <span className={`upload-status${item.phase === 'failed' ? ' text-error' : ''}`} aria-live="polite">{phaseLabel(item)}</span>
        <span className="upload-actions">
          {!FINISHED.has(item.phase) && (
            <button type="button" className="btn btn-small btn-ghost" onClick={() => queue.cancel(item.id)} aria-label={`Cancel upload of ${item.name}`}>
              Cancel
            </button>
          )}
          {item.phase === 'failed' && (
            <button type="button" className="btn btn-small" onClick={() => queue.resume(item.id)} aria-label={`Resume upload of ${item.name}`}>
              Resume
            </button>
          )}
          {FINISHED.has(item.phase) && (
            <button type="button" className="btn btn-small btn-ghost" onClick={() => queue.dismiss(item.id)} aria-label={`Dismiss ${item.name}`}>
              Dismiss
            </button>
          )}
        </span>
      </div>
    </li>
  );
}

function FileDetails({ api, file, onDownload }: { api: Api; file: FileSummary; onDownload: (version: FileVersion) => void }) {
  const [versions, setVersions] = useState<FileVersion[]>();
  const [error, setError] = useState<string>();
  const [hint, setHint] = useState<Hint>('none');
  const [hintState, setHintState] = useState<string>();
  const [effective, setEffective] = useState<ModeAnswer>();

  const loadMode = useCallback(() => {
    api.modeFor(file.id).then(setEffective, () => setEffective(undefined));
  }, [api, file.id]);

  useEffect(() => {
    api.fileVersions(file.id).then(setVersions, (err: unknown) => setError(errorMessage(err)));
    loadMode();
  }, [api, file.id, loadMode]);

  const saveHint = async (h: Hint) => {
    setHint(h);
    setHintState('Saving…');
    try {
      await api.setHint(file.id, h);
      setHintState('Saved');
      loadMode();
    } catch (err) {
      setHintState(errorMessage(err));
    }
  };

  return (
    <div className="details">
      <h3>Versions</h3>
      {error && <ErrorBanner message={error} />}
      {!versions && !error && <Spinner label="Loading versions" />}
      {versions && versions.length === 0 && <p className="muted">No versions.</p>}
      {versions && versions.length > 0 && (
        <ul className="version-list">
          {versions.map((v) => (
            <li key={v.version}>
              <div>
                <strong>v{v.version}</strong> {v.current && <span className="tag">current</span>} {v.mode && <ModeBadge mode={v.mode} />}
                <div className="muted small">
                  {formatBytes(v.size)} · {v.createdAt ? formatDate(v.createdAt) : '—'}
                </div>
                <code className="hash" title={v.sha256}>{v.sha256.slice(0, 16)}…</code>
              </div>
              <button type="button" className="btn btn-small" onClick={() => onDownload(v)} aria-label={`Download version ${v.version}`}>
                Download
              </button>
            </li>
          ))}
        </ul>
      )}
      <h3>Consistency hint</h3>
      <p className="muted small">Ask for strong writes (wait for a majority) or for availability (accept one copy under stress) for this file.</p>
      <div className="segmented" role="radiogroup" aria-label="Consistency hint">
        {(['none', 'strong', 'available'] as const).map((h) => (
          <label key={h} className={`segment${hint === h ? ' on' : ''}`}>
            <input type="radio" name="hint" value={h} checked={hint === h} onChange={() => void saveHint(h)} />
            {h === 'none' ? 'Automatic' : h === 'strong' ? 'Prefer strong' : 'Prefer available'}
          </label>
        ))}
      </div>
      {hintState && <p className="muted small" role="status">{hintState}</p>}
      {effective && (
        <p className="effective small">
          Writes to this file now: <ModeBadge mode={effective.mode} /> <span className="muted">{effective.reason}</span>
        </p>
      )}
    </div>
  );
}
