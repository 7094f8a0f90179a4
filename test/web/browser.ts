/**
 * Shared set-up of the browser tests in test/web/*.browser.test.ts: the whole local stack
 * in-process (random ports), the built web app, Debian's Chromium driven by playwright-core,
 * axe-core injected into pages, and screenshots kept under test-artifacts/web/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { randomUUID } from 'node:crypto';
import { scaled } from '../helpers/load.js';
import { startTestStack, type TestStack, type TestUser } from '../helpers/stack.js';
import { waitFor } from '../helpers/wait.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ROOT = resolve(import.meta.dirname, '../..');
export const ARTIFACTS = join(ROOT, 'test-artifacts', 'web');
export const hasChromium = existsSync(CHROMIUM);

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Build web/dist unless it is newer than every source file. */
export function ensureWebBuilt(): void {
  const index = join(ROOT, 'web/dist/index.html');
  const sources = Math.max(newest(join(ROOT, 'web/src')), statSync(join(ROOT, 'web/index.html')).mtimeMs);
  if (existsSync(index) && statSync(index).mtimeMs > sources) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules/vite/bin/vite.js'), 'build', 'web', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
}

export async function launch(): Promise<Browser> {
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A suite's set-up: the web app built, the local stack started with `env`, Chromium launched. */
export async function startBrowserStack(env: Record<string, string> = {}): Promise<{ stack: TestStack; browser: Browser }> {
  ensureWebBuilt();
  // Chromium starts while the stack does: neither waits on the other.
  const [stack, browser] = await Promise.allSettled([startTestStack(env), launch()]);
  if (stack.status === 'fulfilled' && browser.status === 'fulfilled') return { stack: stack.value, browser: browser.value };
  if (stack.status === 'fulfilled') await stack.value.stop();
  if (browser.status === 'fulfilled') await browser.value.close();
  throw stack.status === 'rejected' ? stack.reason : (browser as PromiseRejectedResult).reason;
}

/** A suite's tear-down: Chromium closed, the stack stopped (whatever of them was started). */
export async function stopBrowserStack(s: { stack?: TestStack; browser?: Browser }): Promise<void> {
  await s.browser?.close();
  await s.stack?.stop();
}

export async function newPage(browser: Browser, o: { width?: number; height?: number; dark?: boolean } = {}): Promise<Page> {
  const ctx = await browser.newContext({
    viewport: { width: o.width ?? 1280, height: o.height ?? 860 },
    colorScheme: o.dark ? 'dark' : 'light',
    reducedMotion: 'reduce',
    acceptDownloads: true,
  });
  const page = await ctx.newPage();
  page.setDefaultTimeout(20_000);
  return page;
}

/** Open `path` signed in as `user` (the session the app keeps in localStorage). */
export async function openSignedIn(page: Page, stack: TestStack, user: TestUser, path = '/'): Promise<void> {
  await page.goto(`${stack.url}/signin`);
  await page.evaluate((s) => localStorage.setItem('echofs.session', JSON.stringify(s)), { token: user.token, user: user.user });
  await page.goto(stack.url + path);
}

export async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage });
}

const AXE_SOURCE = readFileSync(join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');

export interface AxeFinding {
  id: string;
  impact: string;
  help: string;
  nodes: string[];
}

/** axe-core's serious and critical violations on the page as it is now (WCAG 2.x A/AA and best practices). */
export async function seriousViolations(page: Page): Promise<AxeFinding[]> {
  // Evaluated through the DevTools protocol rather than added as a <script>: the page's own CSP
  // (script-src 'self', as deployed) stays in force and would refuse an inline script tag.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<{ violations: { id: string; impact?: string | null; help: string; nodes: { target: unknown[]; failureSummary?: string }[] }[] }> } }).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({ id: v.id, impact: v.impact ?? '', help: v.help, nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${(n.failureSummary ?? '').replace(/\s+/g, ' ').slice(0, 200)}`) }));
  });
}

/**
 * Stand in for the browser's save dialog only: `showSaveFilePicker` answers with a real
 * FileSystemFileHandle of the origin-private file system, named as the dialog suggested. The
 * download then writes through the File System Access API exactly as into a file the person chose.
 */
export async function stubSavePicker(page: Page): Promise<void> {
  await page.addInitScript(() => {
    (window as unknown as { showSaveFilePicker: (o?: { suggestedName?: string }) => Promise<FileSystemFileHandle> }).showSaveFilePicker = async (o) => {
      const dir = await navigator.storage.getDirectory();
      return dir.getFileHandle(o?.suggestedName ?? 'download', { create: true });
    };
  });
}

/** A browser without the File System Access API (as Firefox and Safari are). */
export async function withoutSavePicker(page: Page): Promise<void> {
  await page.addInitScript(() => {
    Object.defineProperty(window, 'showSaveFilePicker', { value: undefined, configurable: true, writable: true });
  });
}

/** The size and SHA-256 of a file in the page's origin-private file system, read back in the page; null when it does not exist. */
export async function savedFileDigest(page: Page, name: string): Promise<{ size: number; sha256: string } | null> {
  return page.evaluate(async (n) => {
    const dir = await navigator.storage.getDirectory();
    let file: File;
    try {
      file = await (await dir.getFileHandle(n)).getFile();
    } catch {
      return null;
    }
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await file.arrayBuffer()));
    return { size: file.size, sha256: Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('') };
  }, name);
}

/**
 * Upload through the API for a test's setup. On a loaded machine a replica write can time out
 * (503, nothing committed): the upload is retried with the same Idempotency-Key, and said so.
 */
export async function uploadFile(stack: TestStack, user: TestUser, name: string, content: string | Uint8Array): Promise<{ file_id: string; version: number }> {
  const key = randomUUID();
  return waitFor(
    async () => {
      const form = new FormData();
      form.append('file', new Blob([typeof content === 'string' ? content : new Uint8Array(content)]), name);
      const res = await fetch(`${stack.url}/api/v1/files/upload`, { method: 'POST', headers: { Authorization: `Bearer ${user.token}`, 'Idempotency-Key': key }, body: form });
      if (res.status === 503) {
        console.warn(`upload ${name}: 503, retrying: ${await res.text()}`);
        return undefined;
      }
      if (res.status !== 201) throw new Error(`upload ${name}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { data: { file_id: string; version: number } }).data;
    },
    `upload of ${name}`,
    scaled(60_000),
    500,
  );
}
