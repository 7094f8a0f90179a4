/**
 * The custom CloudWatch metrics the code emits, counted from its `addMetric` calls (each distinct
 * name and dimension set is one billed metric), against the README's cost tables. A new metric, or
 * a new way of emitting one, fails here until the count in the README (and this inventory) follows.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DIMENSION, METRIC } from '#shared/controller/metrics.js';
import { REPO_ROOT } from '../../infra/cloud/echo-function.js';
import { DEFAULT_SETTINGS } from '../../infra/cloud/settings.js';

const MODES = ['C', 'H', 'A'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sources(full);
    return name.endsWith('.ts') ? [full] : [];
  });
}

/** A METRIC.x.y reference, resolved; `name` is the loop over METRIC.inputs in the controller. */
function resolve(token: string, file: string, text: string): string[] {
  const literal = /^'([A-Za-z]+)'$/.exec(token);
  if (literal) return [literal[1]!];
  if (token.startsWith('METRIC.')) {
    let v: unknown = METRIC;
    for (const part of token.split('.').slice(1)) v = (v as Record<string, unknown>)[part];
    if (typeof v === 'string') return [v];
  }
  if (token === 'name' && /for \(const \[k, name\] of Object\.entries\(METRIC\.inputs\)\)/.test(text)) return Object.values(METRIC.inputs);
  throw new Error(`${path.relative(REPO_ROOT, file)}: cannot tell which metric addMetric(${token}, …) emits; extend this inventory`);
}

/** name -> dimension (undefined for none) of every emitted metric. */
function inventory(): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  for (const file of [...sources(path.join(REPO_ROOT, 'shared')), ...sources(path.join(REPO_ROOT, 'functions'))]) {
    const text = readFileSync(file, 'utf8');
    const dimensionOf = new Map<string, string>();
    for (const m of text.matchAll(/(\w+)\.addDimension\(\s*DIMENSION\.(\w+)/g)) dimensionOf.set(m[1]!, DIMENSION[m[2] as keyof typeof DIMENSION]);
    if (/addDimensions?\(/.test(text.replace(/(\w+)\.addDimension\(\s*DIMENSION\.\w+/g, ''))) {
      throw new Error(`${path.relative(REPO_ROOT, file)}: a dimension not named from DIMENSION; extend this inventory`);
    }
    for (const m of text.matchAll(/(\w+)\.addMetric\(\s*([^,]+?)\s*,/g)) {
      const receiver = m[1]!;
      const dimension = receiver === 'metrics' ? undefined : dimensionOf.get(receiver);
      if (receiver !== 'metrics' && dimension === undefined) throw new Error(`${path.relative(REPO_ROOT, file)}: ${receiver}.addMetric without a known dimension`);
      for (const name of resolve(m[2]!, file, text)) {
        const key = `${name}|${dimension ?? ''}`;
        out.set(key, dimension);
      }
    }
  }
  return out;
}

describe('custom metrics and their cost', () => {
  it('counts 36 billed metrics with three regions, as the README says', () => {
    const all = [...inventory().values()];
    const plain = all.filter((d) => d === undefined).length;
    const perRegion = all.filter((d) => d === DIMENSION.region).length;
    const perMode = all.filter((d) => d === DIMENSION.mode).length;
    const regions = DEFAULT_SETTINGS.regions.length;
    const total = plain + perRegion * regions + perMode * MODES.length;
    expect({ plain, perRegion, perMode, total }).toEqual({ plain: 27, perRegion: 2, perMode: 1, total: 36 });
    const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`${total} in all: ${plain} without a dimension, ${perRegion} per region, ${perMode} per mode`);
  });
});
