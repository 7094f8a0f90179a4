/**
 * The consistency policy (DESIGN §3), pure: no clock, no I/O. The prober feeds it one sample per
 * probe interval; the store persists what it returns.
 *
 *   score = w.partition·partition + w.lag·lag + w.writes·writes + w.hint·hint − w.penalty·penalty
 *   score > thresholdA → A, score < thresholdC → C, otherwise H
 *
 * A new mode is taken only after `samples` consecutive samples agree on it (hysteresis), except in
 * an emergency (partition risk above the emergency level, or a majority of replicas unreachable),
 * which switches to A at once.
 */
import type { ControllerConfig, Mode } from '../config.js';

export type Hint = 'strong' | 'available' | 'none';

/** The policy inputs, each in [0,1]. */
export interface PolicyInputs {
  /** Share of replicas judged unreachable. */
  partition: number;
  /** Normalised replication lag (age of the oldest pending placement). */
  lag: number;
  /** Normalised write rate. */
  writes: number;
  /** Aggregate user hint: share of hinted objects that ask for availability. */
  hint: number;
  /** Recent-change penalty: 1 right after a transition, decaying to 0. */
  penalty: number;
}

export interface ScoreParts {
  partition: number;
  lag: number;
  writes: number;
  hint: number;
  /** Negative: the penalty lowers the score. */
  penalty: number;
}

export interface Observation {
  inputs: PolicyInputs;
  /** Replica counts, for the majority rule. */
  reachable: number;
  total: number;
}

export interface Sample {
  /** Epoch ms. */
  at: number;
  score: number;
  /** The mode this sample alone would choose. */
  proposed: Mode;
  emergency: boolean;
}

export interface ControllerState {
  mode: Mode;
  /** Bumped on every persisted update; conditional writes compare it. */
  version: number;
  /** Newest last; at most HISTORY samples. */
  samples: Sample[];
  /** Epoch ms of the last transition; 0 when the mode never changed. */
  changedAt: number;
  /** Epoch ms of the last sample. */
  updatedAt: number;
  /** The last sample's inputs and score parts, for the status page. */
  lastInputs?: PolicyInputs;
  lastParts?: ScoreParts;
  lastScore?: number;
  /**
   * Why the mode in force holds: the reason of the step that stored this state, so it is written
   * with the mode in one conditional write and never pairs a mode with another decision's reason.
   * Absent in states stored before the field existed.
   */
  reason?: string;
}

export interface StepResult {
  state: ControllerState;
  changed: boolean;
  from: Mode;
  to: Mode;
  score: number;
  parts: ScoreParts;
  proposed: Mode;
  emergency: boolean;
  reason: string;
}

/** How many samples the state keeps (for the status page); at least the hysteresis window. */
export const HISTORY = 10;

export const clamp01 = (x: number): number => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0);

/** Map a raw value onto [0,1] between configurable bounds. */
export function normalise(value: number, bounds: { min: number; max: number }): number {
  if (!(bounds.max > bounds.min)) return value > bounds.min ? 1 : 0;
  return clamp01((value - bounds.min) / (bounds.max - bounds.min));
}

/** 1 right after a transition, decaying linearly to 0 over penaltyMs. */
export function recentChangePenalty(changedAt: number, now: number, cfg: Pick<ControllerConfig, 'penaltyMs'>): number {
  if (changedAt <= 0 || cfg.penaltyMs <= 0) return 0;
  return clamp01(1 - (now - changedAt) / cfg.penaltyMs);
}

export function initialState(mode: Mode = 'C'): ControllerState {
  return { mode, version: 0, samples: [], changedAt: 0, updatedAt: 0 };
}

export function score(inputs: PolicyInputs, cfg: Pick<ControllerConfig, 'weights'>): { score: number; parts: ScoreParts } {
  const w = cfg.weights;
  const parts: ScoreParts = {
    partition: w.partition * clamp01(inputs.partition),
    lag: w.lag * clamp01(inputs.lag),
    writes: w.writes * clamp01(inputs.writes),
    hint: w.hint * clamp01(inputs.hint),
    penalty: -w.penalty * clamp01(inputs.penalty),
  };
  // Rounded to 1e-9 so that boundary cases (exactly 0.3 or 0.6) do not depend on float noise.
  const s = Math.round((parts.partition + parts.lag + parts.writes + parts.hint + parts.penalty) * 1e9) / 1e9;
  return { score: s, parts };
}

export function modeForScore(s: number, cfg: Pick<ControllerConfig, 'thresholdA' | 'thresholdC'>): Mode {
  if (s > cfg.thresholdA) return 'A';
  if (s < cfg.thresholdC) return 'C';
  return 'H';
}

/** Emergency: partition risk above the emergency level, or a majority of replicas unreachable. */
export function isEmergency(obs: Observation, cfg: Pick<ControllerConfig, 'emergencyPartition'>): boolean {
  const unreachable = obs.total - obs.reachable;
  const majority = Math.floor(obs.total / 2) + 1;
  return clamp01(obs.inputs.partition) > cfg.emergencyPartition || (obs.total > 0 && unreachable >= majority);
}

/** One policy step: add a sample, decide whether the mode changes. */
export function step(state: ControllerState, obs: Observation, now: number, cfg: ControllerConfig): StepResult {
  const { score: s, parts } = score(obs.inputs, cfg);
  const emergency = isEmergency(obs, cfg);
  const proposed: Mode = emergency ? 'A' : modeForScore(s, cfg);
  const sample: Sample = { at: now, score: s, proposed, emergency };
  const samples = [...state.samples, sample].slice(-Math.max(HISTORY, cfg.samples));
  const from = state.mode;
  let to = from;
  let reason: string;
  if (emergency) {
    // An emergency takes A at once and holds it, whatever the score says.
    to = 'A';
    const unreachable = obs.total - obs.reachable;
    const why = `emergency: ${unreachable} of ${obs.total} replicas unreachable (partition risk ${fmt(obs.inputs.partition)})`;
    reason = from === 'A' ? `${why} keeps mode A` : why;
  } else if (proposed === from) {
    reason = `score ${fmt(s)} keeps mode ${from}`;
  } else {
    const window = samples.slice(-cfg.samples);
    const agree = window.length >= cfg.samples && window.every((x) => x.proposed === proposed);
    if (agree) {
      to = proposed;
      reason = `${cfg.samples} consecutive samples chose ${proposed} (score ${fmt(s)})`;
    } else {
      const run = countRun(samples, proposed);
      reason = `score ${fmt(s)} suggests ${proposed}; ${run} of ${cfg.samples} samples agree, staying in ${from}`;
    }
  }
  const changed = to !== from;
  const next: ControllerState = {
    mode: to,
    version: state.version + 1,
    samples,
    changedAt: changed ? now : state.changedAt,
    updatedAt: now,
    lastInputs: { ...obs.inputs },
    lastParts: parts,
    lastScore: s,
    reason,
  };
  return { state: next, changed, from, to, score: s, parts, proposed, emergency, reason };
}

function countRun(samples: readonly Sample[], mode: Mode): number {
  let n = 0;
  for (let i = samples.length - 1; i >= 0 && samples[i]?.proposed === mode; i--) n++;
  return n;
}

function fmt(x: number): string {
  return x.toFixed(3);
}

/** What decides the mode of one object, in order of precedence. */
export interface ObjectPolicy {
  critical: boolean;
  objectOverride?: Mode;
  globalOverride?: Mode;
  hint?: Hint;
}

const ORDER: readonly Mode[] = ['C', 'H', 'A'];

/** Shift a mode by a hint: strong → one step toward C, available → one step toward A. */
export function shiftByHint(mode: Mode, hint: Hint | undefined): Mode {
  const i = ORDER.indexOf(mode);
  if (hint === 'strong') return ORDER[Math.max(0, i - 1)] as Mode;
  if (hint === 'available') return ORDER[Math.min(ORDER.length - 1, i + 1)] as Mode;
  return mode;
}

/** Which rule decided an object's mode. */
export type ModeSourceKind = 'critical' | 'object-override' | 'global-override' | 'hint' | 'controller';

/**
 * The mode of one object: critical key → C always; per-object override; global override; the
 * controller's mode shifted by the object's hint. `source` says which rule decided ('hint' when a
 * hint was set, whether or not it shifted the mode).
 */
export function resolveMode(controllerMode: Mode, p: ObjectPolicy): { mode: Mode; reason: string; source: ModeSourceKind } {
  if (p.critical) return { mode: 'C', reason: 'critical key: always strong', source: 'critical' };
  if (p.objectOverride) return { mode: p.objectOverride, reason: `per-object override (${p.objectOverride})`, source: 'object-override' };
  if (p.globalOverride) return { mode: p.globalOverride, reason: `global override (${p.globalOverride})`, source: 'global-override' };
  const mode = shiftByHint(controllerMode, p.hint);
  if (mode !== controllerMode) return { mode, reason: `controller mode ${controllerMode} shifted by hint '${p.hint}'`, source: 'hint' };
  return { mode, reason: `controller mode ${controllerMode}`, source: p.hint && p.hint !== 'none' ? 'hint' : 'controller' };
}
