import { useEffect, useState } from 'react';
import { errorMessage, type Api, type FaultMode, type RegionFault } from '../api.js';
import { useToast } from './ui.js';

/** Local-mode fault injection: one row per replica. Rendered only when the faults API answers. */
export function FaultPanel({ api, faults, onChanged }: { api: Api; faults: RegionFault[]; onChanged: () => void }) {
  return (
    <section className="card" aria-labelledby="faults-title">
      <div className="card-head">
        <h2 id="faults-title">Fault injection <span className="tag">local</span></h2>
      </div>
      <p className="muted small">Refuse or black-hole a replica (a partition): probes mark it unreachable within a few probe intervals, and a majority unreachable switches the controller to A at once. Added latency or dropped connections move the score only through timeouts, errors and replication lag, so a small delay may change nothing.</p>
      <div className="fault-grid">
        {faults.map((f) => (
          <FaultRow key={f.region} api={api} fault={f} onChanged={onChanged} />
        ))}
      </div>
    </section>
  );
}

function FaultRow({ api, fault, onChanged }: { api: Api; fault: RegionFault; onChanged: () => void }) {
  const [state, setState] = useState<FaultMode>(fault.state);
  const [latency, setLatency] = useState(String(fault.latencyMs));
  const [jitter, setJitter] = useState(String(fault.jitterMs));
  const [loss, setLoss] = useState(String(Math.round(fault.loss * 100)));
  const [busy, setBusy] = useState(false);
  const notify = useToast();
  useEffect(() => {
    setState(fault.state);
    setLatency(String(fault.latencyMs));
    setJitter(String(fault.jitterMs));
    setLoss(String(Math.round(fault.loss * 100)));
  }, [fault.state, fault.latencyMs, fault.jitterMs, fault.loss]);

  const apply = async (over?: Partial<{ state: FaultMode; latency: number; jitter: number; loss: number }>) => {
    setBusy(true);
    const body = {
      region: fault.region,
      state: over?.state ?? state,
      latency_ms: over?.latency ?? (Number(latency) || 0),
      jitter_ms: over?.jitter ?? (Number(jitter) || 0),
      loss: over?.loss ?? Math.min(1, Math.max(0, (Number(loss) || 0) / 100)),
    };
    try {
      await api.setFault(body);
      notify({ message: `${fault.region}: ${body.state}${body.latency_ms ? `, +${body.latency_ms} ms` : ''}${body.loss ? `, ${Math.round(body.loss * 100)}% loss` : ''}`, tone: 'success' }, 3000);
      onChanged();
    } catch (err) {
      notify({ message: `Could not change ${fault.region}: ${errorMessage(err)}`, tone: 'error' });
    } finally {
      setBusy(false);
    }
  };

  const id = `fault-${fault.region}`;
  return (
    <form
      className={`fault-row fault-${fault.state}`}
      data-region={fault.region}
      onSubmit={(e) => {
        e.preventDefault();
        void apply();
      }}
    >
      <div className="fault-region">
        <strong>{fault.region}</strong>
        <span className={`pill pill-${fault.state === 'up' ? 'ok' : 'error'}`}>{fault.state === 'up' ? 'up' : fault.state}</span>
      </div>
      <label className="field field-inline">
        <span>State</span>
        <select id={`${id}-state`} name="state" value={state} onChange={(e) => setState(e.target.value as FaultMode)}>
          <option value="up">Up</option>
          <option value="blackhole">Black-hole (partition)</option>
          <option value="refuse">Refuse connections</option>
        </select>
      </label>
      <label className="field field-inline">
        <span>Latency (ms)</span>
        <input type="number" min={0} step={10} inputMode="numeric" value={latency} onChange={(e) => setLatency(e.target.value)} />
      </label>
      <label className="field field-inline">
        <span>Jitter (ms)</span>
        <input type="number" min={0} step={10} inputMode="numeric" value={jitter} onChange={(e) => setJitter(e.target.value)} />
      </label>
      <label className="field field-inline">
        <span>Loss (%)</span>
        <input type="number" min={0} max={100} step={5} inputMode="numeric" value={loss} onChange={(e) => setLoss(e.target.value)} />
      </label>
      <div className="fault-actions">
        <button type="submit" className="btn btn-small btn-primary" disabled={busy}>
          Apply
        </button>
        {fault.state === 'up' ? (
          <button type="button" className="btn btn-small btn-danger-ghost" disabled={busy} onClick={() => void apply({ state: 'blackhole' })} aria-label={`Partition ${fault.region}`}>
            Partition
          </button>
        ) : (
          <button type="button" className="btn btn-small" disabled={busy} onClick={() => void apply({ state: 'up', latency: 0, jitter: 0, loss: 0 })} aria-label={`Heal ${fault.region}`}>
            Heal
          </button>
        )}
      </div>
    </form>
  );
}
