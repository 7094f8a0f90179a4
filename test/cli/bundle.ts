/**
 * The `echofs` client built once into one ES module, so that tests spawn plain `node` on it rather
 * than having tsx transpile cli/ again in every child (about a quarter of the CPU per run). The
 * bundle's entry is the real launcher, bin/echofs.js: exit codes, the EPIPE rule and the stdout
 * drain are its own code; only tsx's loader registration is left out, the bundle being JavaScript
 * already. Tests that are about the launcher itself still spawn bin/echofs.js (`LAUNCHER`).
 *
 * The build is cached in node_modules/.cache/echofs-test-cli/ and keyed by a hash of every
 * project file it read (esbuild's metafile) and the lockfile, so an unchanged client is built once
 * across runs; a build writes whole files and renames them into place, so two test files building
 * at once never see half of one.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CACHE = join(REPO, 'node_modules', '.cache', 'echofs-test-cli');
const BUNDLE = join(CACHE, 'echofs.mjs');
const STAMP = join(CACHE, 'inputs.json');

interface Stamp {
  inputs: string[];
  hash: string;
}

/** tsx's `register()` is a no-op in the bundle: there is no TypeScript left to load. */
const withoutTsx: Plugin = {
  name: 'without-tsx',
  setup(b) {
    b.onResolve({ filter: /^tsx\/esm\/api$/ }, () => ({ path: 'tsx-esm-api', namespace: 'without-tsx' }));
    b.onLoad({ filter: /.*/, namespace: 'without-tsx' }, () => ({ contents: 'export function register() {}', loader: 'js' }));
  },
};

async function hashOf(inputs: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of [...inputs, 'package-lock.json'].sort()) {
    h.update(`${f}\0`);
    h.update(await readFile(join(REPO, f)).catch(() => Buffer.from('(missing)')));
    h.update('\0');
  }
  return h.digest('hex');
}

async function fresh(): Promise<boolean> {
  if (!existsSync(BUNDLE)) return false;
  try {
    const stamp = JSON.parse(await readFile(STAMP, 'utf8')) as Stamp;
    return (await hashOf(stamp.inputs)) === stamp.hash;
  } catch {
    return false;
  }
}

async function buildBundle(): Promise<string> {
  if (await fresh()) return BUNDLE;
  await mkdir(CACHE, { recursive: true });
  const tmp = `${BUNDLE}.${process.pid}.tmp`;
  const result = await build({
    absWorkingDir: REPO,
    entryPoints: ['bin/echofs.js'],
    outfile: tmp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    metafile: true,
    logLevel: 'error',
    // CommonJS dependencies inside an ES module bundle still call require().
    banner: { js: "import { createRequire as __echofsRequire } from 'node:module'; const require = __echofsRequire(import.meta.url);" },
    plugins: [withoutTsx],
  });
  // Project files only (dependencies are pinned by the lockfile, which the hash includes).
  const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.includes(':') && !f.startsWith('node_modules/'));
  const stampTmp = `${STAMP}.${process.pid}.tmp`;
  await writeFile(stampTmp, JSON.stringify({ inputs, hash: await hashOf(inputs) } satisfies Stamp));
  await rename(tmp, BUNDLE);
  await rename(stampTmp, STAMP);
  return BUNDLE;
}

let pending: Promise<string> | undefined;

/** The path of an up-to-date bundle of the client, built on first use in this process. */
export function cliBundle(): Promise<string> {
  pending ??= buildBundle();
  return pending;
}
