/**
 * Every bundle the CDK app builds for deployment loads on its own, as Lambda loads it: copied into
 * an empty folder (no node_modules there or above), imported by a plain `node` with the function's
 * template environment, and its handler export is a function. Run by deployed.test.ts.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import type { Deployment } from './deployment.js';

const run = promisify(execFile);

/** Folders from `dir` up to the root that hold a node_modules (none may, for the check to mean anything). */
export function nodeModulesAbove(dir: string): string[] {
  const found: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) found.push(d);
    if (dirname(d) === d) return found;
  }
}

/** Import each function's bundle from a copy under `scratch`; one line per bundle that fails. */
export async function importEveryBundle(d: Deployment, scratch: string): Promise<string[]> {
  const failures: string[] = [];
  await Promise.all(
    Object.values(d.functions).map(async (spec) => {
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
    }),
  );
  return failures;
}
