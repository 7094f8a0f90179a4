/**
 * The start bundle: infra/local/main.ts and the project code behind it as one ES module, built
 * with esbuild, so that `npm start` (infra/local/launch.mjs) loads JavaScript instead of having
 * tsx transpile and load the few hundred TypeScript modules at every start.
 *
 * It is kept in node_modules/.cache/echofs-local/ by default, where its external imports resolve
 * from the project's node_modules (and where `npm ci` clears it). A stamp next to it records the
 * size and modification time of every project file the build read (esbuild's metafile names
 * them), of package.json, package-lock.json and this file; the bundle is reused only while all of
 * them are unchanged, so an edit is picked up by the next start. Packages that read files next to
 * their own code (PGlite's WebAssembly and data files, the emulators) stay outside the bundle and
 * load from node_modules.
 */
import { readFileSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const ENTRY = 'infra/local/main.ts';
export const DEFAULT_CACHE_DIR = join(PROJECT_ROOT, 'node_modules', '.cache', 'echofs-local');
/** Files that decide the build besides the sources esbuild reads (paths from the project root). */
const BUILD_INPUTS = ['package.json', 'package-lock.json', 'infra/local/start-bundle.mjs'];
/**
 * Left out of the bundle: packages that find files relative to their own code (PGlite's wasm and
 * data bundle, s3rver's templates, dynalite's native LevelDB), and pg's optional native driver.
 */
const EXTERNAL = ['@electric-sql/pglite', 's3rver', 'dynalite', 'pg', 'pg-native'];

/** A file's size and modification time, or null when it is missing. */
function signature(path) {
  try {
    const s = statSync(path);
    return [s.size, s.mtimeMs];
  } catch {
    return null;
  }
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** Where the bundle and its stamp are in a cache dir. */
export function bundleFiles(cacheDir = DEFAULT_CACHE_DIR) {
  return { bundle: join(cacheDir, 'main.mjs'), stamp: join(cacheDir, 'main.stamp.json') };
}

/** Whether the bundle in `cacheDir` was built from the project's files as they are now. */
export function isFresh(cacheDir = DEFAULT_CACHE_DIR) {
  const { bundle, stamp } = bundleFiles(cacheDir);
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(stamp, 'utf8'));
  } catch {
    return false;
  }
  if (!same(signature(bundle), recorded.bundle)) return false;
  return Object.entries(recorded.inputs ?? {}).every(([rel, sig]) => same(signature(join(PROJECT_ROOT, rel)), sig));
}

/**
 * Build the bundle and its stamp into `cacheDir`. Whole files are renamed into place (the bundle
 * before its stamp), so a start running beside a build never reads half of one.
 */
export async function buildBundle(cacheDir = DEFAULT_CACHE_DIR) {
  const esbuild = await import('esbuild');
  const { bundle, stamp } = bundleFiles(cacheDir);
  const startedAt = Date.now();
  const tmp = join(cacheDir, `build-${process.pid}-${startedAt}.mjs`);
  await mkdir(cacheDir, { recursive: true });
  try {
    const result = await esbuild.build({
      absWorkingDir: PROJECT_ROOT,
      entryPoints: [ENTRY],
      outfile: tmp,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: EXTERNAL,
      sourcemap: 'external',
      sourcesContent: false,
      metafile: true,
      logLevel: 'error',
      // CommonJS dependencies inside an ES module bundle still call require().
      banner: { js: "import { createRequire as __echofsRequire } from 'node:module'; const require = __echofsRequire(import.meta.url);" },
      // The map is found by the bundle's name wherever the build was written first.
      footer: { js: '//# sourceMappingURL=main.mjs.map' },
    });
    // The project's own files (dependencies are pinned by package-lock.json, an input too).
    const sources = Object.keys(result.metafile.inputs).filter((f) => !f.includes(':') && !f.split('/').includes('node_modules'));
    const inputs = {};
    for (const rel of [...new Set([...sources, ...BUILD_INPUTS])]) {
      const sig = signature(join(PROJECT_ROOT, rel));
      // A file changed while the build ran may or may not be in it: record it as changed.
      inputs[rel] = sig && sig[1] < startedAt ? sig : ['changed during the build'];
    }
    await rename(`${tmp}.map`, `${bundle}.map`);
    await rename(tmp, bundle);
    const stampTmp = `${tmp}.stamp`;
    await writeFile(stampTmp, JSON.stringify({ entry: ENTRY, bundle: signature(bundle), inputs }, null, 1));
    await rename(stampTmp, stamp);
  } finally {
    await rm(tmp, { force: true });
    await rm(`${tmp}.map`, { force: true });
    await rm(`${tmp}.stamp`, { force: true });
    // esbuild's service process is not needed again: nothing of it outlives the build.
    await esbuild.stop?.();
  }
}

/** The path of an up-to-date bundle in `cacheDir`, built first when missing or stale. */
export async function ensureBundle(cacheDir = DEFAULT_CACHE_DIR) {
  const built = !isFresh(cacheDir);
  if (built) await buildBundle(cacheDir);
  return { path: bundleFiles(cacheDir).bundle, built };
}
