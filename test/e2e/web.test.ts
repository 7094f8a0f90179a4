/**
 * End to end in headless Chromium against the whole local stack (in-process, random ports): the web
 * app as a person uses it. Screenshots of the main screens go to test-artifacts/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { ADMIN_EMAIL, type TestStack } from '../helpers/stack.js';
import { CHROMIUM, ROOT, hasChromium, startBrowserStack, stopBrowserStack } from '../web/browser.js';

const ARTIFACTS = join(ROOT, 'test-artifacts');
if (!hasChromium) console.warn(`[e2e] skipped: ${CHROMIUM} is missing (install Debian's chromium: apt-get install chromium)`);

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!hasChromium)('web app end to end (Chromium)', () => {
  let stack: TestStack;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    ({ stack, browser } = await startBrowserStack({ ECHOFS_ADMIN_EMAILS: ADMIN_EMAIL, ECHOFS_PROBE_INTERVAL_MS: '300', ECHOFS_PROBE_TIMEOUT_MS: '400' }));
  }, 180_000);

  afterAll(() => stopBrowserStack({ stack, browser }));

  async function newPage(width = 1280, height = 860): Promise<Page> {
    const ctx = await browser.newContext({ viewport: { width, height }, acceptDownloads: true });
    const page = await ctx.newPage();
    page.setDefaultTimeout(20_000);
    return page;
  }

  /** Screenshot from the top of the page (a sticky header would otherwise sit mid-image). */
  async function shot(page: Page, name: string, fullPage = false): Promise<void> {
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(ARTIFACTS, name), fullPage });
  }

  async function signUp(page: Page, email: string, username: string, password: string): Promise<void> {
    await page.goto(`${stack.url}/signup`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Files', exact: true }).waitFor();
  }

  it('registers, uploads a 3 MB file to 100%, downloads it byte-exact, deletes and restores it', async () => {
    const page = await newPage();
    // As a browser without the File System Access API: the file goes to the browser's own downloads
    // (test/web/downloads.browser.test.ts covers the save dialog).
    await page.addInitScript(() => Object.defineProperty(window, 'showSaveFilePicker', { value: undefined, configurable: true, writable: true }));
    await page.goto(stack.url);
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    await shot(page, 'signin.png');

    const id = randomBytes(4).toString('hex');
    await signUp(page, `e2e-${id}@echofs.test`, `e2e_${id}`, 'e2e-password');
    await page.getByText('No files yet').waitFor();
    await shot(page, 'files-empty.png');

    // Record every progress value the bar shows.
    const seen: number[] = [];
    await page.exposeFunction('reportProgress', (v: number) => seen.push(v));
    await page.evaluate(() => {
      const report = (window as unknown as { reportProgress: (v: number) => void }).reportProgress;
      new MutationObserver(() => {
        const bar = document.querySelector('[data-upload="sample-3mb.bin"] [role="progressbar"]');
        if (bar) report(Number(bar.getAttribute('aria-valuenow')));
      }).observe(document.body, { subtree: true, attributes: true, childList: true });
    });

    const content = randomBytes(3_000_000);
    await page.getByTestId('file-input').setInputFiles({ name: 'sample-3mb.bin', mimeType: 'application/octet-stream', buffer: content });
    const upload = page.locator('[data-upload="sample-3mb.bin"]');
    await upload.getByText('Uploaded').waitFor({ timeout: 60_000 });
    expect(await upload.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('100');
    expect(seen.at(-1)).toBe(100);
    expect(seen).toEqual([...seen].sort((a, b) => a - b)); // never goes backwards

    const row = page.locator('tr[data-file="sample-3mb.bin"]');
    await row.waitFor();
    await expect.poll(async () => row.locator('td[data-label="Size"]').textContent()).toBe('2.86 MiB');
    await expect.poll(async () => row.locator('td[data-label="Version"]').textContent()).toBe('v1');
    await shot(page, 'files-uploaded.png');

    const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('button', { name: 'Download sample-3mb.bin' }).click()]);
    expect(download.suggestedFilename()).toBe('sample-3mb.bin');
    const saved = readFileSync(await download.path());
    expect(saved.length).toBe(content.length);
    expect(sha256(saved)).toBe(sha256(content));

    await row.getByRole('button', { name: 'Versions of sample-3mb.bin' }).click();
    await page.getByRole('dialog').getByText('v1').waitFor();
    await shot(page, 'file-versions.png');
    await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();

    await row.getByRole('button', { name: 'Delete sample-3mb.bin' }).click();
    await page.getByText('Deleted “sample-3mb.bin”.').waitFor();
    await row.waitFor({ state: 'detached' });
    await shot(page, 'files-deleted-undo.png');
    await page.getByRole('button', { name: 'Undo' }).click();
    await page.getByText('Restored “sample-3mb.bin”.').waitFor();
    await row.waitFor();

    // Several files at once by drag and drop onto the page.
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(['first dropped file'], 'dropped-1.txt', { type: 'text/plain' }));
      dt.items.add(new File([new Uint8Array(1_500_000).fill(7)], 'dropped-2.bin'));
      const zone = document.querySelector('[data-testid="dropzone"]') as HTMLElement;
      zone.dispatchEvent(new DragEvent('dragenter', { bubbles: true, cancelable: true, dataTransfer: dt }));
      zone.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt }));
    });
    await page.locator('[data-upload="dropped-1.txt"]').getByText('Uploaded').waitFor();
    await page.locator('[data-upload="dropped-2.bin"]').getByText('Uploaded').waitFor();
    await page.locator('tr[data-file="dropped-2.bin"]').waitFor();

    // Phone width: the list becomes cards and stays usable; and the dark theme.
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, 'files-phone.png', true);
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize({ width: 1280, height: 860 });
    await page.waitForTimeout(300); // let the colour transitions finish before the picture
    await shot(page, 'files-dark.png');
    await page.context().close();
  }, 120_000);

  it('resumes an upload after network errors by sending only the chunks the session still lacks', async () => {
    const page = await newPage();
    const id = randomBytes(4).toString('hex');
    await signUp(page, `resume-${id}@echofs.test`, `resume_${id}`, 'e2e-password');
    let failures = 0;
    // Every chunk request that reached the server, with its answer: a chunk the server answered
    // with an error (a busy machine can time a replica out) may be sent again; a stored one may not.
    const sent: { chunk: string; status: number }[] = [];
    await page.route('**/api/v1/uploads/*/chunks/*', async (route) => {
      if (failures < 2) {
        failures++;
        await route.abort('connectionreset');
        return;
      }
      const chunk = route.request().url().split('/').pop() ?? '';
      const response = await route.fetch();
      sent.push({ chunk, status: response.status() });
      await route.fulfill({ response });
    });
    const content = randomBytes(2_500_000);
    await page.getByTestId('file-input').setInputFiles({ name: 'flaky.bin', mimeType: 'application/octet-stream', buffer: content });
    const upload = page.locator('[data-upload="flaky.bin"]');
    await upload.getByText('Uploaded').waitFor({ timeout: 60_000 });
    expect(failures).toBe(2);
    const stored = sent.filter((r) => r.status >= 200 && r.status < 300).map((r) => r.chunk);
    const answers = JSON.stringify(sent);
    const again = sent.findIndex((r, i) => sent.slice(0, i).some((e) => e.chunk === r.chunk && e.status >= 200 && e.status < 300));
    expect(again, `no chunk is sent again once stored: ${answers}`).toBe(-1);
    expect(new Set(stored).size, `each of the three chunks stored once: ${answers}`).toBe(3);

    const token = await page.evaluate(() => JSON.parse(localStorage.getItem('echofs.session') ?? '{}').token as string);
    const list = await stack.fetchJson('/api/v1/files', { token });
    const file = list.body.data.find((f: { name: string }) => f.name === 'flaky.bin');
    const res = await fetch(`${stack.url}/api/v1/files/${file.file_id}/download`, { headers: { Authorization: `Bearer ${token}` } });
    expect(sha256(new Uint8Array(await res.arrayBuffer()))).toBe(sha256(content));
    await page.context().close();
  }, 120_000);

  it('as an admin, black-holing two replicas from the fault panel shows mode A on the dashboard', async () => {
    const page = await newPage(1280, 1000);
    // Keyboard only: tab through the sign-up form and submit with Enter.
    await page.goto(`${stack.url}/signup`);
    await page.getByLabel('Username').focus();
    await page.keyboard.type('admin');
    await page.keyboard.press('Tab');
    await page.keyboard.type(ADMIN_EMAIL);
    await page.keyboard.press('Tab');
    await page.keyboard.type('admin-password-1');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Files', exact: true }).waitFor();
    await page.getByRole('link', { name: 'Consistency' }).click();
    const mode = page.getByTestId('current-mode');
    await mode.waitFor();
    await expect.poll(() => mode.getAttribute('data-mode'), { timeout: 20_000 }).toBe('C');
    await page.getByRole('heading', { name: /Fault injection/ }).waitFor();
    // Let the timeline collect a few samples before the partition.
    await expect.poll(() => page.locator('svg path.score-line').count(), { timeout: 20_000 }).toBe(1);
    await shot(page, 'dashboard-strong.png', true);

    const regions = await page.locator('form.fault-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-region') ?? ''));
    expect(regions.length).toBeGreaterThanOrEqual(3);
    const cut = regions.slice(1, 3);
    for (const r of cut) {
      await page.getByRole('button', { name: `Partition ${r}` }).click();
      await page.getByRole('button', { name: `Heal ${r}` }).waitFor();
    }

    // The emergency rule: a majority unreachable switches to A without hysteresis.
    await expect.poll(() => mode.getAttribute('data-mode'), { timeout: 15_000, interval: 200 }).toBe('A');
    expect(await page.getByTestId('mode-reason').textContent()).toMatch(/emergency|unreachable|partition/i);
    for (const r of cut) {
      await expect.poll(() => page.locator(`tr[data-region="${r}"]`).getAttribute('data-reachable'), { timeout: 15_000 }).toBe('false');
    }
    await shot(page, 'dashboard-partition-mode-a.png', true);
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, 'dashboard-phone.png', true);

    for (const r of cut) await stack.fetchJson('/api/v1/local/faults', { token: (await stack.registerAdmin()).token, body: { region: r, state: 'up' } });
    await page.context().close();
  }, 120_000);
});
