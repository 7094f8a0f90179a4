import { useState, type MouseEvent } from 'react';
import type { HistoryPoint, TimelineEvent } from '../api.js';
import { formatTime } from '../format.js';
import { CHART_BOX, describeEvent, EVENT_LABELS, HANDLE_WIDTH, nearestPoint, timelineGeometry } from '../timeline.js';

const MARKER_CLASS: Record<TimelineEvent['kind'], string> = {
  mode_change: 'mk-mode',
  override_set: 'mk-override',
  override_cleared: 'mk-override',
  critical_key_added: 'mk-key',
  critical_key_removed: 'mk-key',
  hint_set: 'mk-key',
  fault_injected: 'mk-fault',
  fault_healed: 'mk-heal',
};

type Hover = { kind: 'sample'; x: number; y: number; sample: HistoryPoint } | { kind: 'event'; x: number; y: number; event: TimelineEvent };

/**
 * Score over the chosen time range on a background of the controller's mode, with the thresholds
 * dashed, axes in local time and score units, and a marker per event (faults, heals, overrides,
 * mode changes). Hovering shows the nearest sample or the marker's event.
 */
export function TimelineChart({ samples, events, end, spanMs, thresholds }: { samples: readonly HistoryPoint[]; events: readonly TimelineEvent[]; end: number; spanMs: number; thresholds: { strong: number; available: number } }) {
  const g = timelineGeometry({ samples, events, end, spanMs, thresholds });
  const [hover, setHover] = useState<Hover>();
  const last = g.points.at(-1)?.sample;
  const desc = last ? `Score ${last.score.toFixed(2)} in mode ${last.mode} at ${formatTime(last.t)}; ${g.points.length} samples and ${g.markers.length} events in range.` : 'No samples in this range.';
  const { width: W, height: H } = CHART_BOX;

  const onMove = (e: MouseEvent<SVGSVGElement>) => {
    // Over a marker, its event's tooltip stays (set on mouseenter).
    if (e.target instanceof Element && e.target.closest('[data-marker]')) return;
    const rect = e.currentTarget.getBoundingClientRect();
    if (rect.width === 0) return;
    const x = ((e.clientX - rect.left) / rect.width) * W;
    const p = nearestPoint(g.points, x);
    if (p && Math.abs(p.x - x) < 30) setHover({ kind: 'sample', x: p.x, y: p.y, sample: p.sample });
    else setHover(undefined);
  };

  return (
    <figure className="chart timeline" data-testid="timeline">
      <div className="chart-wrap">
        <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Timeline of mode and score. ${desc}`} onMouseMove={onMove} onMouseLeave={() => setHover(undefined)}>
          <rect x={g.plot.x} y={g.plot.y} width={g.plot.width} height={g.plot.height} className="chart-bg" />
          {g.bands.map((b, i) => (
            <rect key={i} x={b.x} y={g.plot.y} width={Math.max(b.width, 0.5)} height={g.plot.height} className={`band band-${b.mode}`} />
          ))}
          {g.yTicks.map((t) => (
            <g key={`y${t.value}`} className="axis">
              <line x1={g.plot.x - 4} x2={g.plot.x} y1={t.pos} y2={t.pos} />
              <text x={g.plot.x - 6} y={t.pos + 4} textAnchor="end">{t.label}</text>
            </g>
          ))}
          <text className="axis-title" x={10} y={g.plot.y + g.plot.height / 2} transform={`rotate(-90 10 ${g.plot.y + g.plot.height / 2})`} textAnchor="middle">score (0–1)</text>
          {g.xTicks.map((t) => (
            <g key={`x${t.value}`} className="axis">
              <line x1={t.pos} x2={t.pos} y1={g.plot.y + g.plot.height} y2={g.plot.y + g.plot.height + 4} />
              <text x={t.pos} y={g.plot.y + g.plot.height + 17} textAnchor="middle">{t.label}</text>
            </g>
          ))}
          {g.thresholds.map((t) => (
            <line key={t.value} x1={g.plot.x} x2={g.plot.x + g.plot.width} y1={t.y} y2={t.y} className="threshold" />
          ))}
          {g.scorePath && <path d={g.scorePath} className="score-line" />}
          {g.points.filter((p) => p.sample.emergency).map((p) => (
            <circle key={`e${p.sample.t}`} cx={p.x} cy={p.y} r="2.5" className="emergency-dot" />
          ))}
          {last && <circle cx={g.points.at(-1)?.x} cy={g.points.at(-1)?.y} r="3.5" className="score-dot" />}
          {g.markers.map((m) => (
            <g
              key={m.event.id}
              className={`marker ${MARKER_CLASS[m.event.kind]}`}
              data-marker={m.event.kind}
              data-region={m.event.region}
              data-event-id={m.event.id}
              onMouseEnter={() => setHover({ kind: 'event', x: m.handleX, y: g.plot.y, event: m.event })}
            >
              <title>{`${formatTime(m.event.t)} · ${describeEvent(m.event)}`}</title>
              <line x1={m.x} x2={m.x} y1={g.plot.y} y2={g.plot.y + g.plot.height} />
              {/* A handle moved aside from a crowded spot is tied to its time by a short leader. */}
              {m.handleX !== m.x && <line className="marker-leader" x1={m.handleX} x2={m.x} y1={g.plot.y - 2} y2={g.plot.y} />}
              <rect className="marker-handle" data-marker-handle={m.event.kind} x={m.handleX - HANDLE_WIDTH / 2} y={g.plot.y - 12} width={HANDLE_WIDTH} height="10" rx="2" />
            </g>
          ))}
          {hover?.kind === 'sample' && <line className="hover-line" x1={hover.x} x2={hover.x} y1={g.plot.y} y2={g.plot.y + g.plot.height} />}
        </svg>
        {hover && (
          <div className="chart-tooltip" role="status" data-testid="chart-tooltip" style={{ left: `${(hover.x / W) * 100}%` }}>
            {hover.kind === 'sample' ? (
              <>
                <strong>{formatTime(hover.sample.t)}</strong> · score {hover.sample.score.toFixed(2)} · mode {hover.sample.mode}
                {hover.sample.proposed !== hover.sample.mode && <> (proposed {hover.sample.proposed})</>}
                {hover.sample.emergency && <> · emergency</>}
              </>
            ) : (
              <>
                <strong>{formatTime(hover.event.t)}</strong> · {describeEvent(hover.event)}
              </>
            )}
          </div>
        )}
      </div>
      <figcaption className="chart-legend">
        <span><i className="swatch band-C" /> Strong (C)</span>
        <span><i className="swatch band-H" /> Hybrid (H)</span>
        <span><i className="swatch band-A" /> Available (A)</span>
        <span><i className="swatch swatch-line" /> Score</span>
        <span><i className="swatch mk-fault" /> Fault</span>
        <span><i className="swatch mk-heal" /> Heal</span>
        <span><i className="swatch mk-override" /> Override</span>
        <span><i className="swatch mk-mode" /> Mode change</span>
        <span className="muted">thresholds {thresholds.strong} / {thresholds.available} · x: local time</span>
      </figcaption>
      {g.markers.length > 0 && (
        <details className="event-list">
          <summary>{g.markers.length} events in this range</summary>
          <ol>
            {g.markers.map((m) => (
              <li key={m.event.id} data-event={m.event.kind}>
                <time dateTime={new Date(m.event.t).toISOString()}>{formatTime(m.event.t)}</time> {EVENT_LABELS[m.event.kind] ? describeEvent(m.event) : m.event.reason}
              </li>
            ))}
          </ol>
        </details>
      )}
    </figure>
  );
}
