/**
 * Runs before `npm start` (the prestart script): builds the web app into web/dist when it has not
 * been built yet, so a fresh clone serves the app on the first start. A failed build is reported
 * but does not stop the start: the API works without the web app.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const source = join(root, 'web', 'index.html');
const built = join(root, 'web', 'dist', 'index.html');

if (existsSync(source) && !existsSync(built)) {
  process.stdout.write('Building the web app (first start; later starts reuse web/dist)...\n');
  const r = spawnSync(process.execPath, [join(root, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'web', '--logLevel', 'warn'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    process.stderr.write('The web app did not build; the API still starts. Run `npm run build:web` to see why.\n');
  }
}
