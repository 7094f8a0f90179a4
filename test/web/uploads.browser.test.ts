/**
 * Upload feedback in Chromium against the real local stack: overall progress with speed and time
 * left; an upload cut off by the network goes on by itself when the browser is back online, and
 * then says why it starts part-way. A refused upload says why at its own row, which gets focus.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import type { TestStack } from '../helpers/stack.js';
import { hasChromium, newPage, openSignedIn, seriousViolations, shot, startBrowserStack, stopBrowserStack } from './browser.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!hasChromium)('upload feedback in Chromium', () => {
  let stack: TestStack;
  let browser: Browser;

  beforeAll(async () => void ({ stack, browser } = await startBrowserStack({})), 180_000);
  afterAll(() => stopBrowserStack({ stack, browser }));

  it('goes offline mid-upload, waits, resumes by itself when online again, and says why it resumed part-way', async () => {
    const user = await stack.register();
    const page = await newPage(browser);
    await openSignedIn(page, stack, user, '/');
    await page.getByText('No files yet').waitFor();

    // Record every text the upload row and the summary show.
    const texts = new Set<string>();
    await page.exposeFunction('reportText', (t: string) => texts.add(t));
    await page.evaluate(() => {
      const report = (window as unknown as { reportText: (t: string) => void }).reportText;
      new MutationObserver(() => {
        for (const sel of ['[data-upload="big.bin"] .upload-status', '[data-testid="upload-note"]', '[data-testid="upload-summary"]']) {
          const el = document.querySelector(sel);
          if (el?.textContent) report(el.textContent);
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });

    // Two chunks go through and are stored (their answers are back before the network drops, so
    // the server keeps them whatever the browser does with the answers); the next ones are held
    // until the network drops, then fail with it.
    let sent = 0;
    let stored = 0;
    let offline = false;
    let onTwo: () => void = () => undefined;
    const two = new Promise<void>((r) => (onTwo = r));
    let dropHeld: () => void = () => undefined;
    const dropped = new Promise<void>((r) => (dropHeld = r));
    await page.route('**/api/v1/uploads/*/chunks/*', async (route) => {
      if (offline || sent >= 2) {
        if (!offline) await dropped;
        if (offline) return route.abort('internetdisconnected');
      }
      sent++;
      const response = await route.fetch();
      if (response.ok() && ++stored === 2) onTwo();
      return route.fulfill({ response });
    });

    const content = randomBytes(6 * 1024 * 1024);
    await page.getByTestId('file-input').setInputFiles({ name: 'big.bin', mimeType: 'application/octet-stream', buffer: content });
    await two;
    await page.context().setOffline(true);
    offline = true;
    dropHeld();
    const row = page.locator('[data-upload="big.bin"]');
    await row.getByText(/Offline: the upload goes on when the connection returns/).waitFor({ timeout: 30_000 });
    await shot(page, 'upload-offline.png', false);
    offline = false;
    await page.context().setOffline(false);
    await row.getByText('Uploaded').waitFor({ timeout: 60_000 });

    const all = [...texts];
    expect(all.some((t) => /^Resumed at \d+%: the server kept the parts sent before the interruption\.$/.test(t))).toBe(true);
    expect(all.some((t) => /\d+(\.\d+)? (B|KiB|MiB)\/s/.test(t))).toBe(true); // a speed was shown
    expect(all.some((t) => /MiB of \d+(\.\d+)? MiB · \d+%/.test(t))).toBe(true); // overall progress in the summary
    expect(all.some((t) => /Checking the file 100%/.test(t))).toBe(false);

    const list = await stack.fetchJson('/api/v1/files', { token: user.token });
    const file = (list.body.data as { name: string; file_id: string }[]).find((f) => f.name === 'big.bin');
    const dl = await fetch(`${stack.url}/api/v1/files/${file?.file_id}/download`, { headers: { Authorization: `Bearer ${user.token}` } });
    expect(sha256(new Uint8Array(await dl.arrayBuffer()))).toBe(sha256(content));
    await page.context().close();
  }, 120_000);

  it('shows an upload refused for the quota at its own row, in friendly words, and moves focus there', async () => {
    const user = await stack.register();
    const page = await newPage(browser);
    await openSignedIn(page, stack, user, '/');
    await page.getByText('No files yet').waitFor();
    // The server's answer for a user whose storage is full.
    await page.route('**/api/v1/uploads', (route) =>
      route.fulfill({
        status: 413,
        json: { success: false, error: { code: 'quota_exceeded', message: 'Storing 70000 more bytes would exceed your quota: 100 of 1000 bytes are used. Delete files you no longer need (files in the bin do not count) and retry.' } },
      }),
    );
    await page.getByTestId('file-input').setInputFiles({ name: 'full.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(70_000, 1) });
    const row = page.locator('[data-upload="full.bin"][data-error-code="quota_exceeded"]');
    await row.waitFor();
    expect(await row.getByRole('alert').textContent()).toContain('Your storage is full.');
    await expect.poll(() => page.evaluate(() => document.activeElement?.getAttribute('data-upload'))).toBe('full.bin');
    expect(await seriousViolations(page)).toEqual([]);
    await shot(page, 'upload-quota-error.png', false);
    await page.context().close();
  });
});
