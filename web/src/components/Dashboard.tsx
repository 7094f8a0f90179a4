import { useCallback, useEffect, useRef, useState, type FormEvent } from 'react';
import { errorMessage, type Api, type AuditEntry, type ControllerStatus, type CriticalKey, type Hint, type HistoryPoint, type RegionFault, type ScoreParts, type TimelineEvent } from '../api.js';
import { formatDuration, formatRelative, formatTime, MODE_DESCRIPTIONS, type Mode } from '../format.js';
import { mergeEvents, mergeSamples, RANGES } from '../timeline.js';
import { FaultPanel } from './FaultPanel.js';
import { TimelineChart } from './TimelineChart.js';
import { EmptyState, ErrorBanner, ModeBadge, PageHead, Spinner, useToast } from './ui.js';

export const POLL_MS = 2000;

const PART_LABELS: Record<keyof ScoreParts, string> = {
  partition: 'Partition risk',
  lag: 'Replication lag',
  writes: 'Write rate',
  hint: 'User hints',
  penalty: 'Recent-change penalty',
};

/** A weight as the server reports it (the penalty's is subtracted); a dash when the server does not say. */
function weightText(status: ControllerStatus, k: keyof ScoreParts): string {
  const w = status.weights?.[k];
  if (w === undefined) return '—';
  return k === 'penalty' ? `−${w}` : String(w);
}

/** How often the timeline asks the server for samples newer than those it has. */
const HISTORY_EVERY_POLLS = 2;

export function Dashboard({ api, pollMs = POLL_MS }: { api: Api; pollMs?: number }) {
  const [status, setStatus] = useState<ControllerStatus>();
  const [rangeMs, setRangeMs] = useState<number>(RANGES[0]!.ms);
  const [samples, setSamples] = useState<HistoryPoint[]>([]);
  const [events, setEvents] = useState<TimelineEvent[]>([]);
  const [historyError, setHistoryError] = useState<string>();
  const [historyLoaded, setHistoryLoaded] = useState(false);
  /** Server time of the newest history read: the next read starts a little before it. */
  const historyTo = useRef(0);
  const [error, setError] = useState<string>();
  const [audit, setAudit] = useState<AuditEntry[]>();
  const [auditError, setAuditError] = useState<string>();
  const [faults, setFaults] = useState<RegionFault[]>();
  const [lastOk, setLastOk] = useState<number>();
  const polls = useRef(0);

  const loadAudit = useCallback(() => {
    api.audit(50).then(
      (a) => {
        setAudit(a);
        setAuditError(undefined);
      },
      (err: unknown) => setAuditError(errorMessage(err)),
    );
  }, [api]);

  const loadFaults = useCallback(() => {
    // The faults API exists only in local mode: no panel when it does not answer.
    api.faults().then(setFaults, () => setFaults(undefined));
  }, [api]);

  /**
   * The timeline comes from the server's history (GET /v1/history), so a reload or another
   * operator sees the same past: the whole range when it is chosen, then what is newer.
   */
  const loadHistory = useCallback(
    async (full: boolean) => {
      try {
        const now = Date.now();
        const from = full || historyTo.current === 0 ? now - rangeMs : Math.max(now - rangeMs, historyTo.current - 10_000);
        const h = await api.history(from);
        const since = (h.to || now) - rangeMs;
        historyTo.current = h.to || now;
        setSamples((old) => mergeSamples(full ? [] : old, h.samples, since));
        setEvents((old) => mergeEvents(full ? [] : old, h.events, since));
        setHistoryError(undefined);
        setHistoryLoaded(true);
      } catch (err) {
        setHistoryError(errorMessage(err));
      }
    },
    [api, rangeMs],
  );

  useEffect(() => {
    historyTo.current = 0;
    void loadHistory(true);
  }, [loadHistory]);

  const poll = useCallback(async () => {
    try {
      const s = await api.status();
      setStatus(s);
      setLastOk(Date.now());
      setError(undefined);
      polls.current++;
      if (polls.current % 3 === 0) loadAudit();
      if (polls.current % HISTORY_EVERY_POLLS === 0) void loadHistory(false);
    } catch (err) {
      setError(errorMessage(err));
    }
  }, [api, loadAudit, loadHistory]);

  useEffect(() => {
    void poll();
    loadAudit();
    loadFaults();
    const t = setInterval(() => void poll(), pollMs);
    return () => clearInterval(t);
  }, [poll, loadAudit, loadFaults, pollMs]);

  const refreshAll = () => {
    void poll();
    loadAudit();
    loadFaults();
    void loadHistory(false);
  };

  if (!status) {
    return (
      <div className="page">
        <PageHead title="Consistency" />
        {error ? <ErrorBanner message={`Cannot read the controller status: ${error}`} onRetry={() => void poll()} /> : (
          <div className="card loading-card">
            <Spinner label="Loading controller status" /> Loading controller status…
          </div>
        )}
      </div>
    );
  }

  const reachable = status.regions.filter((r) => r.reachable).length;
  const windowOps = status.healthWindowOps;
  const windowText = windowOps ? `last ${windowOps} ops` : 'recent ops';
  const serverNow = Date.parse(status.at);
  const band = status.score === null ? undefined : bandOf(status.score, status.thresholds);
  return (
    <div className="page dashboard">
      <PageHead
        title="Consistency"
        subtitle={<>Live view of the adaptive controller · updated {lastOk ? formatTime(lastOk) : '—'}</>}
        actions={<button type="button" className="btn btn-ghost" onClick={refreshAll}>Refresh</button>}
      />
      {error && <ErrorBanner message={`Lost contact with the controller: ${error.replace(/\.$/, '')}. Showing the last known state.`} />}

      <div className="grid grid-top">
        <section className="card mode-card" aria-labelledby="mode-title" data-testid="current-mode" data-mode={status.mode}>
          <h2 id="mode-title">Current mode</h2>
          <ModeBadge mode={status.mode} large />
          <p className="mode-desc">{MODE_DESCRIPTIONS[status.mode]}</p>
          <dl className="kv">
            <dt>Reason</dt>
            <dd data-testid="mode-reason">{status.reason || 'No transition recorded yet.'}</dd>
            {status.changedAt && (<><dt>Since</dt><dd>{formatRelative(status.changedAt)}</dd></>)}
            {status.globalOverride && (<><dt>Override</dt><dd><span className="pill pill-warn">global override: {status.globalOverride}</span></dd></>)}
          </dl>
        </section>

        <section className="card" aria-labelledby="score-title">
          <h2 id="score-title">Score</h2>
          <div className={`score-value${band ? ` score-band-${band}` : ''}`} data-testid="score" data-band={band}>{status.score === null ? '—' : status.score.toFixed(2)}</div>
          <ScoreGauge score={status.score} thresholds={status.thresholds} mode={status.mode} />
          <ModeVsScore status={status} />
          <table className="table parts">
            <thead><tr><th scope="col">Input</th><th scope="col">Value</th><th scope="col">Weight</th><th scope="col">Contribution</th></tr></thead>
            <tbody>
              {(Object.keys(PART_LABELS) as (keyof ScoreParts)[]).map((k) => (
                <tr key={k} data-part={k}>
                  <th scope="row">{PART_LABELS[k]}</th>
                  <td><Meter value={status.inputs[k]} label={PART_LABELS[k]} /></td>
                  <td className="muted" data-testid={`weight-${k}`}>{weightText(status, k)}</td>
                  <td className={status.parts[k] < 0 ? 'neg' : ''}>{status.parts[k] >= 0 ? '+' : ''}{status.parts[k].toFixed(2)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      </div>

      <section className="card" aria-labelledby="timeline-title">
        <div className="card-head">
          <h2 id="timeline-title">Timeline</h2>
          <div className="range-picker" role="group" aria-label="Time range">
            {RANGES.map((r) => (
              <button key={r.ms} type="button" className={`btn btn-small ${r.ms === rangeMs ? 'btn-primary' : 'btn-ghost'}`} aria-pressed={r.ms === rangeMs} onClick={() => setRangeMs(r.ms)}>
                {r.label}
              </button>
            ))}
          </div>
        </div>
        <p className="muted small">{samples.length} samples and {events.length} events in the last {RANGES.find((r) => r.ms === rangeMs)?.label}, kept 24 h on the server.</p>
        {historyError && <ErrorBanner message={`Cannot read the history: ${historyError}`} onRetry={() => void loadHistory(true)} />}
        {!historyLoaded && !historyError ? (
          <Spinner label="Loading history" />
        ) : samples.length === 0 && events.length === 0 ? (
          <EmptyState title="No samples in this range yet">The chart fills as the controller reports its score.</EmptyState>
        ) : (
          <TimelineChart samples={samples} events={events} end={Number.isFinite(serverNow) ? serverNow : Date.now()} spanMs={rangeMs} thresholds={status.thresholds} />
        )}
      </section>

      <div className="grid">
        <section className="card" aria-labelledby="regions-title">
          <div className="card-head">
            <h2 id="regions-title">Replicas</h2>
            <span className={`pill pill-${reachable === status.regions.length ? 'ok' : reachable * 2 > status.regions.length ? 'warn' : 'error'}`}>
              {reachable}/{status.regions.length} reachable
            </span>
          </div>
          <p className="muted small" data-testid="health-window">Latency (EWMA and p95) and error rate over each replica&rsquo;s {windowText} (probes and reads/writes); an unreachable replica shows no latency.</p>
          {status.regions.length === 0 ? <EmptyState title="No replica reports yet" /> : (
            <table className="table regions">
              <thead><tr><th scope="col">Region</th><th scope="col">State</th><th scope="col">Latency</th><th scope="col">p95</th><th scope="col" title={errorWindowTitle(windowOps)}>Errors ({windowText})</th></tr></thead>
              <tbody>
                {status.regions.map((r) => (
                  <tr key={r.region} data-region={r.region} data-reachable={String(r.reachable)}>
                    <th scope="row" data-label="Region">{r.region}</th>
                    <td data-label="State"><span className={`dot ${r.reachable ? 'dot-ok' : 'dot-error'}`} aria-hidden="true" />{r.reachable ? 'reachable' : 'unreachable'}</td>
                    {r.reachable ? (
                      <>
                        <td data-label="Latency">{r.latencyMs !== undefined ? formatDuration(r.latencyMs) : '—'}</td>
                        <td data-label="p95">{r.p95Ms !== undefined ? formatDuration(r.p95Ms) : '—'}</td>
                      </>
                    ) : (
                      // Latencies of an unreachable replica are from before it stopped answering: not shown as current.
                      <>
                        <td data-label="Latency" data-testid="no-answer">
                          no answer{r.lastOkAt ? ` · last reply ${formatRelative(r.lastOkAt)}` : ''}
                        </td>
                        <td data-label="p95">—</td>
                      </>
                    )}
                    <td data-label={`Errors (${windowText})`} title={r.lastError ? 'Last error recorded on the server (details in its log)' : undefined}>{r.errorRate !== undefined ? `${Math.round(r.errorRate * 100)}%` : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>

        <section className="card" aria-labelledby="backlog-title">
          <h2 id="backlog-title">Replication</h2>
          <div className="stats">
            <div className="stat"><span className="stat-value" data-testid="backlog">{status.backlog.toLocaleString()}</span><span className="stat-label">copies pending</span></div>
            <div className="stat"><span className="stat-value">{formatDuration(status.lagMs)}</span><span className="stat-label">replication lag</span></div>
            <div className="stat"><span className="stat-value">{status.missing.toLocaleString()}</span><span className="stat-label">copies missing</span></div>
          </div>
          <p className="muted small">Copies acknowledged under hybrid or available mode wait here until the replicator fills the other regions.</p>
        </section>
      </div>

      <Controls api={api} status={status} onChanged={refreshAll} />

      {faults && faults.length > 0 && <FaultPanel api={api} faults={faults} onChanged={refreshAll} />}

      <section className="card" aria-labelledby="audit-title">
        <div className="card-head">
          <h2 id="audit-title">Audit log</h2>
          <button type="button" className="btn btn-ghost btn-small" onClick={loadAudit}>Refresh</button>
        </div>
        {auditError && <ErrorBanner message={auditError} onRetry={loadAudit} />}
        {!audit && !auditError && <Spinner label="Loading audit log" />}
        {audit && audit.length === 0 && <EmptyState title="No decisions yet">Transitions and operator actions appear here.</EmptyState>}
        {audit && audit.length > 0 && (
          <div className="table-scroll">
            <table className="table audit">
              <thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Change</th><th scope="col">Reason</th><th scope="col">Actor</th></tr></thead>
              <tbody>
                {audit.map((e) => (
                  <tr key={e.id}>
                    <td data-label="Time" title={e.at}>{e.at ? formatTime(e.at) : '—'}</td>
                    <td data-label="Event">{e.action.replace(/_/g, ' ')}</td>
                    <td data-label="Change">{e.from || e.to ? <span className="change">{e.from ?? '·'} → {e.to ?? '·'}</span> : '—'}{e.score !== undefined && <span className="muted small"> score {e.score.toFixed(2)}</span>}</td>
                    <td data-label="Reason" className="reason">{e.reason}{e.objectId && <span className="muted small"> ({e.objectId})</span>}</td>
                    <td data-label="Actor">{e.actor}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </div>
  );
}

const errorWindowTitle = (ops: number | undefined) => `Share of failed probes and reads/writes among each replica's ${ops ? `last ${ops}` : 'recent'} operations`;

/** The band a score falls in. */
export function bandOf(score: number, t: { strong: number; available: number }): Mode {
  return score > t.available ? 'A' : score < t.strong ? 'C' : 'H';
}

/** When the mode is not the score's band (emergency rule, override, hysteresis), say why beside the gauge. */
function ModeVsScore({ status }: { status: ControllerStatus }) {
  if (status.score === null) return null;
  const band = bandOf(status.score, status.thresholds);
  if (band === status.mode) return null;
  const emergency = status.emergency || /emergency/i.test(status.reason);
  const why = status.globalOverride
    ? `an operator override holds mode ${status.mode}`
    : emergency
      ? `emergency: too many replicas are unreachable, so mode ${status.mode} is taken at once, whatever the score`
      : `the controller waits for consecutive samples to agree before it leaves mode ${status.mode}`;
  return (
    <p className={`gauge-note pill pill-${emergency ? 'error' : 'warn'}`} data-testid="mode-vs-score">
      Score is in the {band} band, but {why}.
    </p>
  );
}

function ScoreGauge({ score, thresholds, mode }: { score: number | null; thresholds: { strong: number; available: number }; mode: Mode }) {
  const pct = (v: number) => `${Math.max(0, Math.min(1, v)) * 100}%`;
  return (
    <div className="gauge" aria-hidden="true">
      <div className="gauge-zone band-C" style={{ left: 0, width: pct(thresholds.strong) }} />
      <div className="gauge-zone band-H" style={{ left: pct(thresholds.strong), width: pct(thresholds.available - thresholds.strong) }} />
      <div className="gauge-zone band-A" style={{ left: pct(thresholds.available), right: 0 }} />
      {score !== null && <div className={`gauge-marker gauge-marker-${mode}`} style={{ left: pct(score) }} />}
      <div className="gauge-labels"><span>C</span><span>H</span><span>A</span></div>
    </div>
  );
}

function Meter({ value, label }: { value: number; label: string }) {
  return (
    <span className="meter-wrap">
      {/* Every input is a risk: low is good (green), high is bad (red), never the reverse. */}
      <meter min={0} max={1} low={0.3} high={0.6} optimum={0} value={Math.max(0, Math.min(1, value))} aria-label={label} />
      <span className="meter-num">{value.toFixed(2)}</span>
    </span>
  );
}

function Controls({ api, status, onChanged }: { api: Api; status: ControllerStatus; onChanged: () => void }) {
  const notify = useToast();
  const [globalMode, setGlobalMode] = useState<Mode>(status.globalOverride ?? 'C');
  const [objId, setObjId] = useState('');
  const [objMode, setObjMode] = useState<Mode>('C');
  const [hintId, setHintId] = useState('');
  const [hint, setHint] = useState<Hint>('strong');
  const [keys, setKeys] = useState<CriticalKey[]>();
  const [newKey, setNewKey] = useState('');
  const [busy, setBusy] = useState(false);
  // A saved hint shows its value when its object is chosen again (the status lists the hints).
  const savedHint = status.hints.find((h) => h.objectId === hintId.trim())?.hint;
  const chooseHintId = (v: string) => {
    setHintId(v);
    const saved = status.hints.find((h) => h.objectId === v.trim())?.hint;
    if (saved) setHint(saved);
  };

  const loadKeys = useCallback(() => {
    api.criticalKeys().then(setKeys, () => setKeys([]));
  }, [api]);
  useEffect(loadKeys, [loadKeys]);

  const act = async (fn: () => Promise<void>, done: string) => {
    setBusy(true);
    try {
      await fn();
      notify({ message: done, tone: 'success' }, 3000);
      onChanged();
    } catch (err) {
      notify({ message: errorMessage(err), tone: 'error' });
    } finally {
      setBusy(false);
    }
  };

  const submit = (fn: () => Promise<void>, done: string) => (e: FormEvent) => {
    e.preventDefault();
    void act(fn, done);
  };

  return (
    <section className="card" aria-labelledby="controls-title">
      <h2 id="controls-title">Controls</h2>
      <div className="controls">
        <form className="control" onSubmit={submit(() => api.setOverride(globalMode), `Global override set to ${globalMode}.`)}>
          <h3>Global override</h3>
          <p className="muted small">Pin every object to one mode. Critical keys stay strong.{status.globalOverride ? ` Now: ${status.globalOverride}.` : ' None set: the controller decides.'}</p>
          <div className="row">
            <label className="field field-inline">
              <span>Mode</span>
              <ModeSelect value={globalMode} onChange={setGlobalMode} />
            </label>
            <button type="submit" className="btn btn-small btn-primary" disabled={busy}>Set</button>
            <button type="button" className="btn btn-small btn-ghost" disabled={busy || !status.globalOverride} onClick={() => void act(() => api.clearOverride(), 'Global override cleared.')}>Clear</button>
          </div>
        </form>

        <form className="control" onSubmit={submit(() => api.setOverride(objMode, objId.trim()), `Override for ${objId.trim()} set to ${objMode}.`)}>
          <h3>Per-object override</h3>
          <p className="muted small">An object id is a file name, or owner-id/name. {status.objectOverrides} set{status.objectOverrides > status.overrideList.length ? ` (first ${status.overrideList.length} listed)` : ''}.</p>
          {status.overrideList.length > 0 && (
            <ul className="key-list" aria-label="Objects under override" data-testid="override-list">
              {status.overrideList.map((o) => (
                <li key={o.objectId}>
                  <code>{o.objectId}</code> <span className={`pill pill-mode-${o.mode}`}>{o.mode}</span>
                  <span className="muted small"> by {o.actor}</span>
                  <button type="button" className="btn btn-small btn-ghost" onClick={() => { setObjId(o.objectId); setObjMode(o.mode); }} aria-label={`Edit override of ${o.objectId}`}>Edit</button>
                </li>
              ))}
            </ul>
          )}
          <label className="field">
            <span>Object id</span>
            <input value={objId} onChange={(e) => setObjId(e.target.value)} required placeholder="reports/q3.pdf" />
          </label>
          <div className="row">
            <label className="field field-inline">
              <span>Mode</span>
              <ModeSelect value={objMode} onChange={setObjMode} />
            </label>
            <button type="submit" className="btn btn-small btn-primary" disabled={busy || !objId.trim()}>Set</button>
            <button type="button" className="btn btn-small btn-ghost" disabled={busy || !objId.trim()} onClick={() => void act(() => api.clearOverride(objId.trim()), `Override for ${objId.trim()} cleared.`)}>Clear</button>
          </div>
        </form>

        <form className="control" onSubmit={submit(() => api.setHint(hintId.trim(), hint), `Hint for ${hintId.trim()} set to ${hint}.`)}>
          <h3>Hint</h3>
          <p className="muted small">Shift one object toward strong or available (a file id, or any object id).</p>
          <label className="field">
            <span>Object id</span>
            <input value={hintId} onChange={(e) => chooseHintId(e.target.value)} required list="saved-hints" />
          </label>
          <datalist id="saved-hints">
            {status.hints.map((h) => <option key={h.objectId} value={h.objectId} />)}
          </datalist>
          {savedHint && <p className="muted small" data-testid="saved-hint">Saved hint: {savedHint}.</p>}
          <div className="row">
            <label className="field field-inline">
              <span>Hint</span>
              <select value={hint} onChange={(e) => setHint(e.target.value as Hint)}>
                <option value="strong">strong</option>
                <option value="available">available</option>
                <option value="none">none</option>
              </select>
            </label>
            <button type="submit" className="btn btn-small btn-primary" disabled={busy || !hintId.trim()}>Set hint</button>
          </div>
        </form>

        <div className="control">
          <h3>Critical keys</h3>
          <p className="muted small">Always strong: a write fails rather than degrade. A trailing * matches a prefix.</p>
          <form className="row" onSubmit={submit(async () => { await api.addCriticalKey(newKey.trim()); setNewKey(''); loadKeys(); }, `${newKey.trim()} is now critical.`)}>
            <label className="field field-inline grow">
              <span className="visually-hidden">New critical key</span>
              <input value={newKey} onChange={(e) => setNewKey(e.target.value)} placeholder="ledger/*" aria-label="New critical key" />
            </label>
            <button type="submit" className="btn btn-small btn-primary" disabled={busy || !newKey.trim()}>Add</button>
          </form>
          {keys === undefined ? <Spinner label="Loading critical keys" /> : keys.length === 0 ? <p className="muted small">No critical keys.</p> : (
            <ul className="key-list">
              {keys.map((k) => (
                <li key={k.key}>
                  <code>{k.key}</code>
                  <button type="button" className="btn btn-small btn-danger-ghost" disabled={busy} aria-label={`Remove critical key ${k.key}`} onClick={() => void act(async () => { await api.removeCriticalKey(k.key); loadKeys(); }, `${k.key} is no longer critical.`)}>Remove</button>
                </li>
              ))}
            </ul>
          )}
        </div>
      </div>
    </section>
  );
}

function ModeSelect({ value, onChange }: { value: Mode; onChange: (m: Mode) => void }) {
  return (
    <select value={value} onChange={(e) => onChange(e.target.value as Mode)}>
      <option value="C">C · Strong</option>
      <option value="H">H · Hybrid</option>
      <option value="A">A · Available</option>
    </select>
  );
}
