import { useCallback, useDeferredValue, useEffect, useMemo, useRef, useState, useSyncExternalStore, type DragEvent, type FormEvent } from 'react';
import { ApiError, codeMessage, errorMessage, isAbort, type Api, type FilePage, type FileSummary, type FileVersion, type Hint, type ModeAnswer } from '../api.js';
import { downloadTo, openFileSink, saveFilePicker, startBrowserDownload, type ByteSink } from '../download.js';
import { DOWNLOAD_TOO_LARGE } from '../../../shared/downloads.js';
import { formatBytes, formatDate, formatDuration, formatRelative } from '../format.js';
import { FINISHED, overallProgress, phaseLabel, queueSummary, SPEED_WINDOW_MS, uploadEta, uploadSpeed, UploadQueue, type UploadItem } from '../upload.js';
import { Dialog, EmptyState, ErrorBanner, ModeBadge, ProgressBar, Spinner, useToast } from './ui.js';

export function replicaLabel(f: FileSummary, regions: readonly string[]): { text: string; tone: 'ok' | 'warn' | 'muted' } {
  const r = f.replicas;
  if (!r) return { text: '—', tone: 'muted' };
  const total = regions.length || Math.max(r.complete.length, Object.keys(r.present).length);
  if (r.chunks === 0) return { text: 'Empty file', tone: 'muted' };
  if (r.complete.length >= total && r.underReplicated === 0) return { text: `${r.complete.length}/${total} regions`, tone: 'ok' };
  return { text: `Replicating · ${r.complete.length}/${total}`, tone: 'warn' };
}

export type SortKey = 'name' | 'modified' | 'size';
export interface Sort {
  key: SortKey;
  dir: 'asc' | 'desc';
}

/** Rows on one page of the list. */
export const PAGE_SIZE = 50;
/** Files per request when the whole list is read (for a sort or search the server does not do). */
const INDEX_PAGE = 1000;

/** The server lists by name; any other order, and a search, are done over the whole list here. */
export function serverOrdered(sort: Sort, query: string): boolean {
  return sort.key === 'name' && sort.dir === 'asc' && query.trim() === '';
}

export function compareFiles(sort: Sort): (a: FileSummary, b: FileSummary) => number {
  const by = (a: FileSummary, b: FileSummary): number => {
    if (sort.key === 'size') return a.size - b.size;
    if (sort.key === 'modified') return (Date.parse(a.uploadedAt) || 0) - (Date.parse(b.uploadedAt) || 0);
    return a.name.localeCompare(b.name);
  };
  return (a, b) => (sort.dir === 'asc' ? 1 : -1) * by(a, b) || a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
}

/** Case- and accent-insensitive substring search on the name. */
export function matchesQuery(name: string, query: string): boolean {
  const fold = (s: string) => s.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
  const q = fold(query.trim());
  return q === '' || fold(name).includes(q);
}

/** "report.pdf" → "report (1).pdf", "report (2).pdf"… the first name `taken` says is free. */
export async function freeName(name: string, taken: (candidate: string) => Promise<boolean>): Promise<string> {
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let n = 1; n < 1000; n++) {
    const candidate = `${stem} (${n})${ext}`;
    if (!(await taken(candidate))) return candidate;
  }
  return `${stem} (${Date.now()})${ext}`;
}

/** A download in progress: bytes written to where it is saved so far, the recent rate, its cancel. */
interface DownloadRow {
  id: string;
  name: string;
  done: number;
  total: number;
  samples: { at: number; bytes: number }[];
  cancel: () => void;
}

/**
 * Where a download of `name` is saved: a file chosen in the browser's save dialog (File System
 * Access API), opened before any byte is fetched; undefined where the browser has no such dialog
 * (the browser's own download manager then takes a signed link). Rejects with an AbortError when
 * the dialog is dismissed.
 */
export async function chooseSaveTarget(name: string): Promise<ByteSink | undefined> {
  const picker = saveFilePicker();
  return picker ? openFileSink(await picker({ suggestedName: name })) : undefined;
}

interface Conflict {
  blob: File | Blob;
  name: string;
  existing: FileSummary;
}

export function FilesPage({ api, queue: injectedQueue }: { api: Api; queue?: UploadQueue }) {
  const [sort, setSort] = useState<Sort>({ key: 'name', dir: 'asc' });
  const [queryInput, setQueryInput] = useState('');
  const query = useDeferredValue(queryInput);
  const [pageNo, setPageNo] = useState(0);
  /** Server paging (name order): the cursor that opens each page seen so far, and the page shown. */
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [serverPage, setServerPage] = useState<FilePage>();
  /** The whole list, read for another sort or a search; `indexing` counts files read so far. */
  const [index, setIndex] = useState<FileSummary[]>();
  const [indexing, setIndexing] = useState<number>();
  const [conflicts, setConflicts] = useState<Conflict[]>([]);
  const [error, setError] = useState<string>();
  const [regions, setRegions] = useState<string[]>([]);
  const [dragging, setDragging] = useState(false);
  const [details, setDetails] = useState<FileSummary>();
  const [renaming, setRenaming] = useState<FileSummary>();
  const [busy, setBusy] = useState<string>();
  const [downloads, setDownloads] = useState<DownloadRow[]>([]);
  // Downloads stop (their files discarded) when the page goes away.
  const downloadControllers = useRef(new Set<AbortController>());
  useEffect(() => {
    const ctls = downloadControllers.current;
    return () => {
      for (const c of ctls) c.abort(new DOMException('Cancelled', 'AbortError'));
    };
  }, []);
  const notify = useToast();
  const input = useRef<HTMLInputElement>(null);
  const dragDepth = useRef(0);

  const serverMode = serverOrdered(sort, query);
  const loadSeq = useRef(0);

  /** Read the shown page again (server paging) or the whole list (other sorts, search). */
  const load = useCallback(async () => {
    const seq = ++loadSeq.current;
    try {
      if (serverMode) {
        const p = await api.listPage({ limit: PAGE_SIZE, cursor: cursors[pageNo] });
        if (seq !== loadSeq.current) return;
        setServerPage(p);
        setCursors((cs) => {
          const next = cs.slice(0, pageNo + 1);
          if (p.nextCursor) next[pageNo + 1] = p.nextCursor;
          return next;
        });
      } else {
        const all: FileSummary[] = [];
        let cursor: string | undefined;
        setIndexing(0);
        do {
          const p = await api.listPage({ limit: INDEX_PAGE, cursor });
          if (seq !== loadSeq.current) return;
          all.push(...p.items);
          setIndexing(all.length);
          cursor = p.nextCursor ?? undefined;
        } while (cursor);
        setIndex(all);
        setIndexing(undefined);
      }
      setError(undefined);
    } catch (err) {
      if (seq !== loadSeq.current) return;
      setIndexing(undefined);
      setError(errorMessage(err));
    }
  }, [api, serverMode, cursors, pageNo]);
  const loadRef = useRef(load);
  loadRef.current = load;
  const reload = useCallback(() => void loadRef.current(), []);

  const queue = useMemo(() => injectedQueue ?? new UploadQueue(api, { parallelFiles: 2, concurrency: 4 }), [api, injectedQueue]);
  useEffect(() => {
    const onDone = () => reload();
    let last = 0;
    const unsub = queue.subscribe(() => {
      const done = queue.snapshot().filter((i) => i.phase === 'done').length;
      if (done > last) onDone();
      last = done;
    });
    return () => {
      unsub();
    };
  }, [queue, reload]);
  useEffect(() => () => queue.dispose(), [queue]);
  const uploads = useSyncExternalStore(queue.subscribe, queue.snapshot);

  // Load when the view changes: the page number, or the switch between server paging and the whole list.
  useEffect(() => {
    reload();
  }, [reload, serverMode, pageNo]);
  useEffect(() => {
    // Region names for the replica column (best effort: the status is informative only).
    api.status().then((s) => setRegions(s.regions.map((r) => r.region)), () => undefined);
  }, [api]);

  const files: FileSummary[] | undefined = useMemo(() => {
    if (serverMode) return serverPage?.items;
    if (!index) return undefined;
    return index.filter((f) => matchesQuery(f.name, query)).sort(compareFiles(sort));
  }, [serverMode, serverPage, index, query, sort]);
  const total = serverMode ? undefined : files?.length;
  const pageCount = serverMode ? undefined : Math.max(1, Math.ceil((files?.length ?? 0) / PAGE_SIZE));
  const shown = serverMode ? files : files?.slice(pageNo * PAGE_SIZE, (pageNo + 1) * PAGE_SIZE);
  const hasNext = serverMode ? Boolean(serverPage?.nextCursor) : pageNo + 1 < (pageCount ?? 1);

  const changeSort = (key: SortKey) => {
    setSort((s) => (s.key === key ? { key, dir: s.dir === 'asc' ? 'desc' : 'asc' } : { key, dir: key === 'name' ? 'asc' : 'desc' }));
    setPageNo(0);
    setCursors([undefined]);
  };
  const dropFile = (id: string) => {
    setServerPage((p) => (p ? { ...p, items: p.items.filter((x) => x.id !== id) } : p));
    setIndex((all) => all?.filter((x) => x.id !== id));
  };

  // While copies are still replicating, refresh now and then so the column catches up.
  const replicating = files?.some((f) => f.replicas && f.replicas.underReplicated > 0) ?? false;
  useEffect(() => {
    if (!replicating) return;
    const t = setInterval(reload, 5000);
    return () => clearInterval(t);
  }, [replicating, reload]);

  /** Queue new names at once; a name that exists asks first: replace (a new version) or keep both. */
  const addFiles = async (list: FileList | null) => {
    if (!list || list.length === 0) return;
    const fresh: { name: string; blob: File }[] = [];
    const found: Conflict[] = [];
    await Promise.all(
      Array.from(list, async (f) => {
        try {
          const existing = await api.findByName(f.name);
          if (existing) found.push({ name: f.name, blob: f, existing });
          else fresh.push({ name: f.name, blob: f });
        } catch (err) {
          notify({ message: `Could not upload “${f.name}”: ${errorMessage(err)}`, tone: 'error' });
        }
      }),
    );
    if (fresh.length > 0) queue.add(fresh);
    if (found.length > 0) setConflicts((cs) => [...cs, ...found]);
  };

  const resolveConflict = async (c: Conflict, choice: 'replace' | 'keep' | 'skip') => {
    setConflicts((cs) => cs.filter((x) => x !== c));
    if (choice === 'replace') queue.add([{ name: c.name, blob: c.blob, ifMatch: c.existing.version }]);
    if (choice === 'keep') {
      try {
        const name = await freeName(c.name, async (n) => (await api.findByName(n)) !== undefined);
        queue.add([{ name, blob: c.blob }]);
      } catch (err) {
        notify({ message: `Could not upload “${c.name}”: ${errorMessage(err)}`, tone: 'error' });
      }
    }
  };

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    dragDepth.current = 0;
    setDragging(false);
    void addFiles(e.dataTransfer.files);
  };

  /**
   * The current version (size from the list) or an older one (size from its version entry), streamed
   * to where it is saved with its progress, speed and a cancel in the downloads panel.
   */
  const download = async (f: FileSummary, version?: number, size?: number) => {
    const total = size ?? (version === undefined ? f.size : undefined);
    const name = f.name;
    let sink: ByteSink | undefined;
    try {
      // The save dialog first, while the click still counts as the person's gesture.
      sink = await chooseSaveTarget(name);
      if (!sink) {
        // No save dialog (Firefox, Safari): the browser downloads a signed link to disk itself.
        const link = await api.downloadLink(f.id, version);
        startBrowserDownload(link.url, name);
        return;
      }
    } catch (err) {
      if (err instanceof ApiError && err.code === DOWNLOAD_TOO_LARGE) notify({ message: `Download failed: “${name}” is too large for this browser to download from EchoFS. Use Chrome or Edge, or the echofs command-line tool.`, tone: 'error' });
      else if (!isAbort(err)) notify({ message: `Download failed: ${errorMessage(err)}`, tone: 'error' });
      return;
    }
    const ctl = new AbortController();
    downloadControllers.current.add(ctl);
    const id = `d${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const row: DownloadRow = { id, name, done: 0, total: total ?? 0, samples: [], cancel: () => ctl.abort(new DOMException('Cancelled', 'AbortError')) };
    setDownloads((ds) => [...ds, row]);
    let shownAt = 0;
    try {
      await downloadTo(api, f.id, sink, {
        version,
        size: total,
        signal: ctl.signal,
        onProgress: (done, all) => {
          // At most ten renders a second (a stream reports every piece it reads), and the last one.
          const at = Date.now();
          if (at - shownAt < 100 && !(all > 0 && done >= all)) return;
          shownAt = at;
          setDownloads((ds) =>
            ds.map((d) => {
              if (d.id !== id) return d;
              const samples = [...d.samples.filter((x) => at - x.at <= SPEED_WINDOW_MS), { at, bytes: done - d.done }];
              return { ...d, done, total: all || d.total, samples };
            }),
          );
        },
      });
      notify({ message: `Saved “${name}”.`, tone: 'success' });
    } catch (err) {
      if (isAbort(err)) notify({ message: `Download of “${name}” cancelled; nothing was kept.` });
      else notify({ message: `Download failed: ${errorMessage(err)}`, tone: 'error' });
    } finally {
      downloadControllers.current.delete(ctl);
      setDownloads((ds) => ds.filter((d) => d.id !== id));
    }
  };

  const remove = async (f: FileSummary) => {
    setBusy(f.id);
    try {
      await api.deleteFile(f.id);
      dropFile(f.id);
      notify(
        {
          message: `Deleted “${f.name}”.`,
          action: {
            label: 'Undo',
            run: () => {
              api.restoreFile(f.id).then(
                () => {
                  notify({ message: `Restored “${f.name}”.`, tone: 'success' });
                  reload();
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

  const summary = queueSummary(uploads);
  const active = summary.active;

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
          <p className="muted">
            {indexing !== undefined
              ? `Reading the list… ${indexing.toLocaleString()} files`
              : total !== undefined
                ? `${total.toLocaleString()} ${query.trim() ? `match${total === 1 ? '' : 'es'}` : `file${total === 1 ? '' : 's'}`}`
                : files
                  ? `Page ${pageNo + 1}`
                  : 'Loading…'}{' '}
            · drop files anywhere on this page to upload
          </p>
        </div>
        <div className="actions">
          <button type="button" className="btn btn-ghost" onClick={reload} aria-label="Refresh the file list">
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
              void addFiles(e.target.files);
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
          {active > 0 && (
            <div className="upload-summary" data-testid="upload-summary">
              <ProgressBar value={summary.fraction} label="All uploads" />
              <div className="muted small upload-summary-text">
                <span>
                  {formatBytes(summary.done)} of {formatBytes(summary.total)} · {Math.floor(summary.fraction * 100)}%
                </span>
                <span>
                  {summary.speed !== undefined ? `${formatBytes(summary.speed)}/s` : 'Measuring speed…'}
                  {summary.etaSeconds !== undefined ? ` · ${timeLeft(summary.etaSeconds)}` : ''}
                </span>
              </div>
            </div>
          )}
          <ul className="upload-list">
            {uploads.map((u) => (
              <UploadRow key={u.id} item={u} queue={queue} />
            ))}
          </ul>
        </section>
      )}

      {downloads.length > 0 && (
        <section className="card uploads downloads" aria-label="Downloads">
          <div className="card-head">
            <h2>Downloads <span className="muted">· {downloads.length} in progress</span></h2>
          </div>
          <ul className="upload-list">
            {downloads.map((d) => (
              <DownloadProgress key={d.id} item={d} />
            ))}
          </ul>
        </section>
      )}

      <div className="list-tools" role="search">
        <label className="field field-inline search-field">
          <span className="visually-hidden">Search files by name</span>
          <input
            type="search"
            placeholder="Search by name"
            value={queryInput}
            onChange={(e) => {
              setQueryInput(e.target.value);
              setPageNo(0);
            }}
          />
        </label>
      </div>

      {error && <ErrorBanner message={error} onRetry={reload} />}

      {!files && !error ? (
        <div className="card loading-card">
          <Spinner label="Loading files" /> Loading your files…
        </div>
      ) : files && files.length === 0 && query.trim() !== '' ? (
        <div className="card">
          <EmptyState title="No matching files">
            <p>No file name contains “{query.trim()}”.</p>
          </EmptyState>
        </div>
      ) : files && files.length === 0 && pageNo === 0 ? (
        <div className="card">
          <EmptyState title="No files yet" icon="⇪">
            <p>Drag files here, or choose them to upload. Large files are sent in 1 MiB chunks and resume after a lost connection.</p>
            <button type="button" className="btn btn-primary" onClick={() => input.current?.click()}>
              Choose files
            </button>
          </EmptyState>
        </div>
      ) : shown ? (
        <div className="card table-card">
          <table className="table files-table">
            <thead>
              <tr>
                <SortHeader label="Name" k="name" sort={sort} onSort={changeSort} />
                <SortHeader label="Size" k="size" sort={sort} onSort={changeSort} />
                <SortHeader label="Modified" k="modified" sort={sort} onSort={changeSort} />
                <th scope="col">Version</th>
                <th scope="col">Replicas</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {shown.map((f) => {
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
                        Download
                      </button>
                      <button type="button" className="btn btn-small btn-ghost" onClick={() => setDetails(f)} aria-label={`Versions of ${f.name}`}>
                        Versions
                      </button>
                      <button type="button" className="btn btn-small btn-ghost" onClick={() => setRenaming(f)} aria-label={`Rename ${f.name}`}>
                        Rename
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
          {(pageNo > 0 || hasNext) && (
            <nav className="pager" aria-label="Pages of the file list">
              <button type="button" className="btn btn-small" disabled={pageNo === 0} onClick={() => setPageNo((n) => Math.max(0, n - 1))}>
                Previous
              </button>
              <span className="muted small" aria-live="polite">
                Page {pageNo + 1}
                {pageCount !== undefined ? ` of ${pageCount}` : ''}
              </span>
              <button type="button" className="btn btn-small" disabled={!hasNext} onClick={() => setPageNo((n) => n + 1)}>
                Next
              </button>
            </nav>
          )}
        </div>
      ) : null}

      <Dialog open={conflicts.length > 0} title="A file with this name exists" onClose={() => conflicts[0] && void resolveConflict(conflicts[0], 'skip')}>
        {conflicts[0] && <ConflictChoice conflict={conflicts[0]} more={conflicts.length - 1} onChoose={(c) => conflicts[0] && void resolveConflict(conflicts[0], c)} />}
      </Dialog>

      <Dialog open={details !== undefined} title={details ? details.name : ''} onClose={() => setDetails(undefined)}>
        {details && <FileDetails api={api} file={details} onDownload={(v) => void download(details, v.version, v.size)} onChanged={reload} />}
      </Dialog>

      <Dialog open={renaming !== undefined} title={renaming ? `Rename “${renaming.name}”` : ''} onClose={() => setRenaming(undefined)}>
        {renaming && (
          <RenameForm
            api={api}
            file={renaming}
            onCancel={() => setRenaming(undefined)}
            onRenamed={(f) => {
              setRenaming(undefined);
              notify({ message: `Renamed “${renaming.name}” to “${f.name}”.`, tone: 'success' });
              reload();
            }}
          />
        )}
      </Dialog>
    </div>
  );
}

function timeLeft(seconds: number): string {
  return seconds < 1 ? 'less than a second left' : `about ${formatDuration(Math.round(seconds) * 1000)} left`;
}

function SortHeader({ label, k, sort, onSort }: { label: string; k: SortKey; sort: Sort; onSort: (k: SortKey) => void }) {
  const on = sort.key === k;
  return (
    <th scope="col" aria-sort={on ? (sort.dir === 'asc' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" className="sort-btn" onClick={() => onSort(k)}>
        {label}
        <span aria-hidden="true" className="sort-arrow">{on ? (sort.dir === 'asc' ? '▲' : '▼') : ''}</span>
      </button>
    </th>
  );
}

function ConflictChoice({ conflict, more, onChoose }: { conflict: Conflict; more: number; onChoose: (c: 'replace' | 'keep' | 'skip') => void }) {
  const e = conflict.existing;
  return (
    <div className="conflict" data-conflict={conflict.name}>
      <p>
        <strong className="file-name-wrap">{conflict.name}</strong> already exists (v{e.version}, {formatBytes(e.size)}, modified {formatRelative(e.uploadedAt)}).
      </p>
      <div className="conflict-actions">
        <button type="button" className="btn btn-primary" onClick={() => onChoose('replace')}>
          Replace
        </button>
        <span className="muted small">Upload as v{e.version + 1}; v{e.version} stays in its history.</span>
        <button type="button" className="btn" onClick={() => onChoose('keep')}>
          Keep both
        </button>
        <span className="muted small">Upload under a new name, such as “{conflict.name.replace(/(\.[^.]*)?$/, ' (1)$1')}”.</span>
        <button type="button" className="btn btn-ghost" onClick={() => onChoose('skip')}>
          Skip
        </button>
        <span className="muted small">Do not upload this file.</span>
      </div>
      {more > 0 && <p className="muted small">{more} more name{more === 1 ? '' : 's'} to decide after this one.</p>}
    </div>
  );
}

function DownloadProgress({ item }: { item: DownloadRow }) {
  const fraction = item.total > 0 ? Math.min(1, item.done / item.total) : 0;
  const speed = uploadSpeed(item);
  return (
    <li className="upload upload-uploading" data-download={item.name}>
      <div className="upload-top">
        <span className="file-name" title={item.name}>{item.name}</span>
        <span className="muted upload-size">{item.total > 0 ? formatBytes(item.total) : ''}</span>
      </div>
      <ProgressBar value={fraction} label={`Download of ${item.name}`} />
      <div className="upload-bottom">
        <span className="upload-status" data-testid="download-status">
          {formatBytes(item.done)}
          {item.total > 0 ? ` of ${formatBytes(item.total)} · ${Math.floor(fraction * 100)}%` : ''}
          {speed !== undefined && <span className="upload-speed"> · {formatBytes(speed)}/s</span>}
        </span>
        <span className="upload-actions">
          <button type="button" className="btn btn-small btn-ghost" onClick={item.cancel} aria-label={`Cancel download of ${item.name}`}>
            Cancel
          </button>
        </span>
      </div>
    </li>
  );
}

/**
 * What a failed upload says at its row: the error-code map's sentence first, then the specifics the
 * server or the engine gave (the name that is taken, the sizes, the attempts), when they add to it.
 */
export function uploadFailureText(item: Pick<UploadItem, 'error' | 'errorCode'>): { headline: string; detail?: string } {
  const headline = codeMessage(item.errorCode) ?? item.error ?? 'The upload failed.';
  const detail = item.error && item.error !== headline ? item.error : undefined;
  return detail ? { headline, detail } : { headline };
}

function UploadRow({ item, queue }: { item: UploadItem; queue: UploadQueue }) {
  const progress = overallProgress(item);
  const speed = item.phase === 'uploading' ? uploadSpeed(item) : undefined;
  const eta = uploadEta(item);
  const tone = item.phase === 'failed' ? 'error' : item.phase === 'retrying' ? 'warn' : item.phase === 'cancelled' ? 'muted' : 'ok';
  const failed = item.phase === 'failed';
  const row = useRef<HTMLLIElement>(null);
  // A failure is reported where it happened: focus moves to the upload's row, which reads its error.
  useEffect(() => {
    if (failed) row.current?.focus();
  }, [failed]);
  const errorId = `upload-error-${item.id}`;
  const failure = failed ? uploadFailureText(item) : undefined;
  return (
    <li
      ref={row}
      className={`upload upload-${item.phase}`}
      data-upload={item.name}
      data-error-code={failed ? item.errorCode : undefined}
      tabIndex={failed ? -1 : undefined}
      aria-label={failed ? `Upload of ${item.name} failed` : undefined}
      aria-describedby={failed ? errorId : undefined}
    >
      <div className="upload-top">
        <span className="file-name" title={item.name}>{item.name}</span>
        <span className="muted upload-size">{formatBytes(item.size)}</span>
      </div>
      <ProgressBar value={progress} label={`Upload of ${item.name}`} tone={tone} />
      <div className="upload-bottom">
        <span className={`upload-status${failed ? ' text-error' : ''}`} aria-live={failed ? undefined : 'polite'}>
          {failed ? 'Not uploaded' : phaseLabel(item)}
          {speed !== undefined && <span className="upload-speed"> · {formatBytes(speed)}/s</span>}
          {eta !== undefined && <span className="upload-eta"> · {timeLeft(eta)}</span>}
        </span>
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
      {failure && (
        <p id={errorId} className="field-error upload-error" role="alert" data-testid="upload-error">
          {failure.headline}
          {failure.detail && <span className="upload-error-detail"> {failure.detail}</span>}
        </p>
      )}
      {item.note && !FINISHED.has(item.phase) && <p className="upload-note muted small" data-testid="upload-note">{item.note}</p>}
    </li>
  );
}

/** The rename form: a server error about the name is shown under the field, and focus moves there. */
export function RenameForm({ api, file, onRenamed, onCancel }: { api: Api; file: FileSummary; onRenamed: (f: FileSummary) => void; onCancel: () => void }) {
  const [name, setName] = useState(file.name);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => {
    const el = field.current;
    if (!el) return;
    el.focus();
    // Select the stem, so typing replaces the name and keeps the extension.
    const dot = file.name.lastIndexOf('.');
    el.setSelectionRange(0, dot > 0 ? dot : file.name.length);
  }, [file.name]);
  useEffect(() => {
    if (error) field.current?.focus();
  }, [error]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const next = name.trim();
    if (next === '') {
      setError('Enter a name.');
      return;
    }
    if (next === file.name) {
      onCancel();
      return;
    }
    setBusy(true);
    try {
      onRenamed(await api.renameFile(file.id, next));
    } catch (err) {
      setError(errorMessage(err));
      setBusy(false);
    }
  };
  return (
    <form className="rename-form" onSubmit={(e) => void submit(e)} noValidate>
      <div className="field">
        <label htmlFor="rename-name">New name</label>
        <input
          ref={field}
          id="rename-name"
          name="name"
          value={name}
          onChange={(e) => {
            setName(e.target.value);
            setError(undefined);
          }}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'rename-name-error' : undefined}
          autoComplete="off"
        />
        {error && (
          <small id="rename-name-error" className="field-error" role="alert">
            {error}
          </small>
        )}
      </div>
      <div className="form-actions">
        <button type="button" className="btn btn-ghost" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className="btn btn-primary" disabled={busy}>
          {busy ? 'Renaming…' : 'Rename'}
        </button>
      </div>
    </form>
  );
}

function FileDetails({ api, file, onDownload, onChanged }: { api: Api; file: FileSummary; onDownload: (version: FileVersion) => void; onChanged: () => void }) {
  const [versions, setVersions] = useState<FileVersion[]>();
  const [error, setError] = useState<string>();
  const [restoring, setRestoring] = useState<number>();
  const notify = useToast();
  const [hint, setHint] = useState<Hint>('none');
  const [hintState, setHintState] = useState<string>();
  const [effective, setEffective] = useState<ModeAnswer>();
  const hintTouched = useRef(false);

  const loadMode = useCallback(() => {
    api.modeFor(file.id).then(
      (m) => {
        setEffective(m);
        // Show the saved hint on reopening (when the server reports it), unless the person just chose one.
        if (m.hint) setHint((h) => (hintTouched.current ? h : (m.hint ?? h)));
      },
      () => setEffective(undefined),
    );
  }, [api, file.id]);

  const loadVersions = useCallback(() => {
    api.fileVersions(file.id).then(setVersions, (err: unknown) => setError(errorMessage(err)));
  }, [api, file.id]);

  useEffect(() => {
    loadVersions();
    loadMode();
  }, [loadVersions, loadMode]);

  /** The server commits the old content as a new version: the list grows by one, nothing is lost. */
  const restoreVersion = async (v: FileVersion) => {
    setRestoring(v.version);
    try {
      const f = await api.restoreVersion(file.id, v.version);
      notify({ message: `Restored version ${v.version} of “${file.name}” as version ${f.version}.`, tone: 'success' });
      setError(undefined);
      loadVersions();
      onChanged();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : errorMessage(err));
    } finally {
      setRestoring(undefined);
    }
  };

  const saveHint = async (h: Hint) => {
    hintTouched.current = true;
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
      <p className="muted small">Restore makes an older version current again as a new version; every version stays in the history.</p>
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
              <span className="version-actions">
                {!v.current && (
                  <button
                    type="button"
                    className="btn btn-small btn-ghost"
                    onClick={() => void restoreVersion(v)}
                    disabled={restoring !== undefined}
                    aria-label={`Restore version ${v.version}`}
                    title={`Make the content of version ${v.version} current again (as a new version)`}
                  >
                    {restoring === v.version ? 'Restoring…' : 'Restore'}
                  </button>
                )}
                <button type="button" className="btn btn-small" onClick={() => onDownload(v)} aria-label={`Download version ${v.version}`}>
                  Download
                </button>
              </span>
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
