#!/usr/bin/env node
/**
 * `npm start`: the whole EchoFS system on this machine (infra/local/main.ts), run from the start
 * bundle (infra/local/start-bundle.mjs: one ES module, rebuilt when a source changed), so that a
 * start, and a restart after a crash, does not transpile the TypeScript again.
 *
 * Without esbuild (an install without dev dependencies), or when the build fails, the sources run
 * through tsx instead. The first start also builds the web app into web/dist (a failed build is
 * reported; the API starts anyway).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ENTRY, PROJECT_ROOT, ensureBundle } from './start-bundle.mjs';

/** The web app, built once: a fresh clone serves it on its first start; later starts reuse web/dist. */
function buildWebOnFirstStart() {
  if (!existsSync(join(PROJECT_ROOT, 'web', 'index.html')) || existsSync(join(PROJECT_ROOT, 'web', 'dist', 'index.html'))) return;
  process.stdout.write('Building the web app (first start; later starts reuse web/dist)...\n');
  const vite = join(PROJECT_ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  const r = spawnSync(process.execPath, [vite, 'build', 'web', '--logLevel', 'warn'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  if (r.status !== 0) process.stderr.write('The web app did not build; the API still starts. Run `npm run build:web` to see why.\n');
}

// The SDK's notice that its 2027 releases need Node 22 says nothing about this run.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
buildWebOnFirstStart();

let bundle;
try {
  bundle = (await ensureBundle()).path;
} catch (err) {
  const reason = err?.code === 'ERR_MODULE_NOT_FOUND' ? 'esbuild is not installed' : (err?.message ?? String(err));
  process.stderr.write(`Running the sources through tsx (the start bundle was not built: ${reason}).\n`);
}
if (bundle) {
  // Its source map is next to it: NODE_OPTIONS=--enable-source-maps makes stack traces name the
  // TypeScript sources (at a cost to every start, so not by default).
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(join(PROJECT_ROOT, ENTRY)).href);
}
