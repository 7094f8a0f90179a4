import { chartGeometry, type Sample } from '../history.js';
import { formatDuration, formatTime } from '../format.js';

const W = 600;
const H = 160;

/** Score over time on a background of the mode bands; the dashed lines are the mode thresholds. */
/** The time span shown: the history so far (at least 20 s), up to `maxSpanMs`; the newest sample sits at the right edge. */
export function chartSpan(samples: readonly Sample[], maxSpanMs: number): number {
  const first = samples[0];
  const last = samples[samples.length - 1];
  const have = first && last ? last.t - first.t : 0;
  return Math.min(maxSpanMs, Math.max(20_000, have));
}

export function TimelineChart({ samples, maxSpanMs = 5 * 60_000, thresholds }: { samples: readonly Sample[]; maxSpanMs?: number; thresholds: { strong: number; available: number } }) {
  const spanMs = chartSpan(samples, maxSpanMs);
  const g = chartGeometry(samples, W, H, spanMs, [thresholds.strong, thresholds.available]);
  const first = samples[0];
  const last = samples[samples.length - 1];
  const desc = last ? `Score ${last.score.toFixed(2)} in mode ${last.mode}; ${samples.length} samples since ${formatTime(first?.t ?? last.t)}.` : 'No samples yet.';
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`Timeline of mode and score. ${desc}`}>
        <rect x="0" y="0" width={W} height={H} className="chart-bg" />
        {g.bands.map((b, i) => (
          <rect key={i} x={b.x} y="0" width={Math.max(b.width, 0.5)} height={H} className={`band band-${b.mode}`} />
        ))}
        {g.thresholds.map((t) => (
          <line key={t.value} x1="0" x2={W} y1={t.y} y2={t.y} className="threshold" />
        ))}
        {g.scorePath && <path d={g.scorePath} className="score-line" vectorEffect="non-scaling-stroke" />}
        {g.last && <circle cx={g.last.x} cy={g.last.y} r="3.5" className="score-dot" />}
      </svg>
      <figcaption className="chart-legend">
        <span><i className="swatch band-C" /> Strong</span>
        <span><i className="swatch band-H" /> Hybrid</span>
        <span><i className="swatch band-A" /> Available</span>
        <span><i className="swatch swatch-line" /> Score</span>
        <span className="muted">thresholds {thresholds.strong} / {thresholds.available} · last {formatDuration(spanMs)}</span>
      </figcaption>
    </figure>
  );
}
