import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DEFAULT_CONTROLLER, loadConfig, type ControllerConfig, type Mode } from '#shared/config.js';
import {
  initialState,
  isEmergency,
  modeForScore,
  normalise,
  recentChangePenalty,
  resolveMode,
  score,
  shiftByHint,
  step,
  type ControllerState,
  type PolicyInputs,
} from '#shared/controller/policy.js';

const cfg: ControllerConfig = DEFAULT_CONTROLLER;
const zero: PolicyInputs = { partition: 0, lag: 0, writes: 0, hint: 0, penalty: 0 };
const inputs = (p: Partial<PolicyInputs>): PolicyInputs => ({ ...zero, ...p });
const obs = (p: Partial<PolicyInputs>, reachable = 3, total = 3) => ({ inputs: inputs(p), reachable, total });

/** A fake clock: samples 5 s apart. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms = 5000) => (t += ms) };
}

function run(state: ControllerState, samples: Partial<PolicyInputs>[], c = clock()): { state: ControllerState; modes: Mode[] } {
  const modes: Mode[] = [];
  let s = state;
  for (const p of samples) {
    c.advance();
    s = step(s, obs(p), c.now(), cfg).state;
    modes.push(s.mode);
  }
  return { state: s, modes };
}

describe('policy score table', () => {
  const table: [string, Partial<PolicyInputs>, number, Mode][] = [
    ['all inputs zero', {}, 0, 'C'],
    ['partition alone at 1', { partition: 1 }, 0.4, 'H'],
    ['lag alone at 1', { lag: 1 }, 0.3, 'H'],
    ['writes alone at 1', { writes: 1 }, 0.2, 'C'],
    ['hint alone at 1', { hint: 1 }, 0.1, 'C'],
    ['penalty alone at 1', { penalty: 1 }, -0.2, 'C'],
    ['partition+lag at 1', { partition: 1, lag: 1 }, 0.7, 'A'],
    ['everything at 1', { partition: 1, lag: 1, writes: 1, hint: 1, penalty: 1 }, 0.8, 'A'],
    ['everything but penalty at 1', { partition: 1, lag: 1, writes: 1, hint: 1 }, 1.0, 'A'],
    ['penalty pulls 0.7 down to 0.5', { partition: 1, lag: 1, penalty: 1 }, 0.5, 'H'],
    ['exactly 0.3 is H (not below 0.3)', { lag: 1 }, 0.3, 'H'],
    ['just below 0.3 is C', { lag: 0.99 }, 0.297, 'C'],
    ['exactly 0.6 is H (not above 0.6)', { partition: 1, writes: 1 }, 0.6, 'H'],
    ['just above 0.6 is A', { partition: 1, writes: 1, hint: 0.01 }, 0.601, 'A'],
    ['half of each', { partition: 0.5, lag: 0.5, writes: 0.5, hint: 0.5, penalty: 0.5 }, 0.4, 'H'],
  ];
  it.each(table)('%s → score %d, mode %s', (_name, p, expected, mode) => {
    const s = score(inputs(p), cfg).score;
    expect(s).toBeCloseTo(expected, 9);
    expect(modeForScore(s, cfg)).toBe(mode);
  });

  it('clamps inputs outside [0,1]', () => {
    expect(score(inputs({ partition: 5, lag: -3 }), cfg).score).toBeCloseTo(0.4, 9);
  });

  it('the score parts add up to the score (property)', () => {
    const unit = fc.double({ min: 0, max: 1, noNaN: true });
    fc.assert(
      fc.property(fc.record({ partition: unit, lag: unit, writes: unit, hint: unit, penalty: unit }), (i) => {
        const r = score(i, cfg);
        const sum = r.parts.partition + r.parts.lag + r.parts.writes + r.parts.hint + r.parts.penalty;
        expect(Math.abs(sum - r.score)).toBeLessThan(1e-8);
        expect(r.score).toBeGreaterThanOrEqual(-0.2 - 1e-9);
        expect(r.score).toBeLessThanOrEqual(1 + 1e-9);
      }),
    );
  });

  it('uses configured weights and thresholds', () => {
    const c = loadConfig({ ECHOFS_CTRL_WEIGHTS: 'partition=1', ECHOFS_CTRL_THRESHOLD_A: '0.9', ECHOFS_CTRL_THRESHOLD_C: '0.1' }).controller;
    expect(score(inputs({ partition: 0.5 }), c).score).toBeCloseTo(0.5, 9);
    expect(modeForScore(0.5, c)).toBe('H');
    expect(modeForScore(0.95, c)).toBe('A');
    expect(modeForScore(0.05, c)).toBe('C');
  });

  it('rejects bad controller variables with one message each', () => {
    expect(() => loadConfig({ ECHOFS_CTRL_WEIGHTS: 'speed=3', ECHOFS_CTRL_LAG_BOUNDS_MS: '10,5' })).toThrow(
      /ECHOFS_CTRL_WEIGHTS[\s\S]*ECHOFS_CTRL_LAG_BOUNDS_MS/,
    );
  });
});

describe('normalisation and penalty', () => {
  it('normalises between bounds and clamps', () => {
    expect(normalise(30_000, { min: 0, max: 60_000 })).toBe(0.5);
    expect(normalise(-1, { min: 0, max: 10 })).toBe(0);
    expect(normalise(99, { min: 0, max: 10 })).toBe(1);
    expect(normalise(15, { min: 10, max: 20 })).toBe(0.5);
  });
  it('penalty is 1 at a transition, decays linearly, 0 when never changed', () => {
    expect(recentChangePenalty(0, 5000, cfg)).toBe(0);
    expect(recentChangePenalty(1000, 1000, cfg)).toBe(1);
    expect(recentChangePenalty(1000, 1000 + cfg.penaltyMs / 2, cfg)).toBeCloseTo(0.5, 9);
    expect(recentChangePenalty(1000, 1000 + cfg.penaltyMs * 2, cfg)).toBe(0);
  });
});

describe('hysteresis', () => {
  const high = { partition: 0.5, lag: 1, writes: 1 }; // 0.7 → A, not an emergency

  it('holds for 2 samples and switches on the 3rd', () => {
    const { modes } = run(initialState('C'), [high, high, high]);
    expect(modes).toEqual(['C', 'C', 'A']);
  });

  it('one noisy sample never switches', () => {
    const { modes } = run(initialState('C'), [{}, high, {}, {}, high, {}]);
    expect(modes.every((m) => m === 'C')).toBe(true);
  });

  it('two agreeing samples interrupted by a third opinion do not switch', () => {
    const mid = { lag: 1, writes: 0.5 }; // 0.4 → H
    const { modes } = run(initialState('C'), [high, high, mid, high, high]);
    expect(modes).toEqual(['C', 'C', 'C', 'C', 'C']);
  });

  it('returns to C only after 3 calm samples', () => {
    const start: ControllerState = { ...initialState('A'), version: 4 };
    const { modes } = run(start, [{}, {}, {}]);
    expect(modes).toEqual(['A', 'A', 'C']);
  });

  it('records the transition time and bumps the version on every sample', () => {
    const c = clock();
    const { state } = run(initialState('C'), [high, high, high], c);
    expect(state.changedAt).toBe(c.now());
    expect(state.version).toBe(3);
    expect(state.samples).toHaveLength(3);
  });

  it('keeps a bounded sample history', () => {
    const { state } = run(initialState('C'), Array.from({ length: 40 }, () => ({})));
    expect(state.samples.length).toBeLessThanOrEqual(10);
  });

  it('a configured window of 5 needs 5 agreeing samples', () => {
    const c5 = { ...cfg, samples: 5 };
    let s = initialState('C');
    const modes: Mode[] = [];
    for (let i = 0; i < 5; i++) {
      s = step(s, obs(high), 1000 + i * 5000, c5).state;
      modes.push(s.mode);
    }
    expect(modes).toEqual(['C', 'C', 'C', 'C', 'A']);
  });
});

describe('hysteresis (property)', () => {
  it('without an emergency, the mode changes only when the last 3 samples chose the new mode', () => {
    const unit = fc.double({ min: 0, max: 0.8, noNaN: true });
    const sample = fc.record({ partition: unit, lag: fc.double({ min: 0, max: 1, noNaN: true }), writes: fc.double({ min: 0, max: 1, noNaN: true }) });
    fc.assert(
      fc.property(fc.array(sample, { minLength: 1, maxLength: 30 }), (seq) => {
        let s = initialState('C');
        seq.forEach((p, i) => {
          const r = step(s, obs(p), 1000 + i * 5000, cfg);
          if (r.changed) {
            const last = r.state.samples.slice(-3);
            expect(last).toHaveLength(3);
            expect(last.every((x) => x.proposed === r.to)).toBe(true);
          } else {
            expect(r.to).toBe(s.mode);
          }
          s = r.state;
        });
      }),
    );
  });
});

describe('emergency', () => {
  it('partition risk above 0.8 switches to A at once', () => {
    const r = step(initialState('C'), obs({ partition: 0.81 }, 3, 3), 1000, cfg);
    expect(r.changed).toBe(true);
    expect(r.to).toBe('A');
    expect(r.emergency).toBe(true);
  });

  it('a majority of replicas unreachable switches to A at once, whatever the score', () => {
    const o = obs({ partition: 2 / 3 }, 1, 3);
    expect(isEmergency(o, cfg)).toBe(true);
    const r = step(initialState('C'), o, 1000, cfg);
    expect(r.to).toBe('A');
    expect(r.reason).toMatch(/emergency: 2 of 3 replicas unreachable/);
  });

  it('the state stores the reason of the step that stored it, and a held emergency keeps saying why A holds', () => {
    const first = step(initialState('C'), obs({ partition: 2 / 3 }, 1, 3), 1000, cfg);
    expect(first.state.reason).toBe(first.reason);
    const held = step(first.state, obs({ partition: 2 / 3 }, 1, 3), 6000, cfg);
    expect(held.changed).toBe(false);
    expect(held.state.mode).toBe('A');
    expect(held.state.reason).toMatch(/^emergency: 2 of 3 replicas unreachable .* keeps mode A$/);
    // Healed: the mode held by hysteresis says so, not the emergency that is over.
    const healed = step(held.state, obs({}), 11_000, cfg);
    expect(healed.state.mode).toBe('A');
    expect(healed.state.reason).toMatch(/suggests C; 1 of 3 samples agree, staying in A/);
  });

  it('one of three unreachable is not an emergency', () => {
    const r = step(initialState('C'), obs({ partition: 1 / 3 }, 2, 3), 1000, cfg);
    expect(r.emergency).toBe(false);
    expect(r.to).toBe('C');
  });

  it('after the partition heals, C comes back only after the hysteresis window', () => {
    let s = step(initialState('C'), obs({ partition: 2 / 3 }, 1, 3), 1000, cfg).state;
    expect(s.mode).toBe('A');
    const modes: Mode[] = [];
    for (let i = 1; i <= 3; i++) {
      s = step(s, obs({}), 1000 + i * 5000, cfg).state;
      modes.push(s.mode);
    }
    expect(modes).toEqual(['A', 'A', 'C']);
  });
});

describe('per-object resolution', () => {
  it('critical key → C, even over overrides and hints', () => {
    expect(resolveMode('A', { critical: true, objectOverride: 'A', globalOverride: 'A', hint: 'available' }).mode).toBe('C');
  });
  it('per-object override beats the global override and the hint', () => {
    expect(resolveMode('C', { critical: false, objectOverride: 'H', globalOverride: 'A', hint: 'strong' }).mode).toBe('H');
  });
  it('global override beats the controller and the hint', () => {
    expect(resolveMode('C', { critical: false, globalOverride: 'A', hint: 'strong' })).toEqual({ mode: 'A', reason: 'global override (A)', source: 'global-override' });
  });
  it('otherwise the controller mode shifted by the hint', () => {
    expect(resolveMode('H', { critical: false, hint: 'strong' }).mode).toBe('C');
    expect(resolveMode('H', { critical: false, hint: 'available' }).mode).toBe('A');
    expect(resolveMode('A', { critical: false, hint: 'strong' }).mode).toBe('H');
    expect(resolveMode('C', { critical: false, hint: 'available' }).mode).toBe('H');
    expect(resolveMode('H', { critical: false, hint: 'none' })).toEqual({ mode: 'H', reason: 'controller mode H', source: 'controller' });
  });
  it('a hint never shifts past the ends', () => {
    expect(shiftByHint('C', 'strong')).toBe('C');
    expect(shiftByHint('A', 'available')).toBe('A');
  });
});
