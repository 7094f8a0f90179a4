import { describe, expect, it } from 'vitest';
import { chartGeometry, pushSample, seedHistory, type Sample } from '../../web/src/history.js';

describe('controller history', () => {
  it('keeps samples in time order within the window and the size cap', () => {
    let h: Sample[] = [];
    for (let t = 0; t <= 100; t += 10) h = pushSample(h, { t, mode: 'C', score: 0.1 }, 50, 100);
    expect(h.map((s) => s.t)).toEqual([50, 60, 70, 80, 90, 100]);
    h = pushSample(h, { t: 110, mode: 'A', score: 0.9 }, 1000, 3);
    expect(h.map((s) => s.t)).toEqual([90, 100, 110]);
  });

  it('maps score to y (0 at the bottom) and groups runs of a mode into bands ending at each sample', () => {
    const samples: Sample[] = [
      { t: 0, mode: 'C', score: 0 },
      { t: 50, mode: 'C', score: 0.5 },
      { t: 100, mode: 'A', score: 1 },
    ];
    const g = chartGeometry(samples, 200, 100, 100);
    expect(g.scorePath).toBe('M0 100 L100 50 L200 0');
    expect(g.bands).toEqual([
      { mode: 'C', x: 0, width: 100 },
      { mode: 'A', x: 100, width: 100 },
    ]);
    expect(g.thresholds).toEqual([
      { value: 0.3, y: 70 },
      { value: 0.6, y: 40 },
    ]);
    expect(g.last).toEqual({ x: 200, y: 0 });
  });

  it('clips samples older than the span to the left edge and draws nothing without samples', () => {
    const g = chartGeometry([{ t: 0, mode: 'H', score: 0.4 }, { t: 1000, mode: 'H', score: 0.4 }], 100, 100, 500);
    expect(g.scorePath).toBe('M0 60 L100 60');
    expect(chartGeometry([], 100, 100, 500).scorePath).toBe('');
  });

  it('seeds the history from the controller samples: before the last change in the old mode, after it in the current one', () => {
    const seeded = seedHistory([{ t: 300, score: 0.9 }, { t: 100, score: 0.1 }, { t: 200, score: 0.85 }], 'A', { at: 200, from: 'C' });
    expect(seeded).toEqual([
      { t: 100, score: 0.1, mode: 'C' },
      { t: 200, score: 0.85, mode: 'A' },
      { t: 300, score: 0.9, mode: 'A' },
    ]);
    expect(seedHistory([{ t: 1, score: 0 }], 'C').map((s) => s.mode)).toEqual(['C']);
  });
});
