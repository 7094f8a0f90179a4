/**
 * Every bundle the CDK app builds for deployment loads on its own, as Lambda loads it: copied into
 * an empty folder (no node_modules there or above), imported by a plain `node`, and its handler
 * export is a function.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { synthesizedApp } from './assembly.js';
import { deploy, type Deployment } from './deployment.js';

const run = promisify(execFile);

/** Folders from `dir` up to the root that hold a node_modules (none may, for the test to mean anything). */
function nodeModulesAbove(dir: string): string[] {
  const found: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) found.push(d);
    if (dirname(d) === d) return found;
  }
}

describe('deployed bundles', () => {
  let d: Deployment;
  const scratch = mkdtempSync(join(tmpdir(), 'echofs-bundles-'));
  beforeAll(async () => {
    d = deploy(await synthesizedApp());
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('the app builds a bundle for each of the seven functions', () => {
    expect(Object.keys(d.functions).map((id) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual(
      ['Auth', 'Controller', 'Files', 'FilesStream', 'Migrate', 'Prober', 'Replicator'].sort(),
    );
  });

  it('each bundle imports in an empty folder and exports its handler', async () => {
    expect(nodeModulesAbove(scratch)).toEqual([]);
    const failures: string[] = [];
    for (const spec of Object.values(d.functions)) {
      const dir = join(scratch, spec.logicalId);
      cpSync(spec.assetDir, dir, { recursive: true });
      const exportName = spec.handler.split('.').pop() as string;
      const script = `
        globalThis.awslambda = { streamifyResponse: (h) => h, HttpResponseStream: { from: (s) => s } };
        const m = await import('./index.mjs');
        if (typeof m[${JSON.stringify(exportName)}] !== 'function') throw new Error('export ${exportName} is not a function');`;
      try {
        await run(process.execPath, ['--input-type=module', '-e', script], { cwd: dir, env: { PATH: process.env.PATH ?? '', ...spec.environment } });
      } catch (err) {
        failures.push(`${spec.logicalId} (${spec.handler}, ${(statSync(join(dir, 'index.mjs')).size / 1024).toFixed(0)} KiB): ${(err as { stderr?: string }).stderr?.split('\n').find((l) => /Error/.test(l)) ?? String(err)}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
