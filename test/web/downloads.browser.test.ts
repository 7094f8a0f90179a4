/**
 * Downloads in Chromium against the real local stack, saved through the File System Access API
 * (the save dialog stood in for by a file of the origin-private file system): a multi-chunk file of
 * random bytes is written as it arrives, by one streamed response or chunk by chunk from the
 * manifest's presigned replica URLs, and the saved bytes hash to the uploaded ones. A cancelled
 * download keeps no file. Without the API, the browser's own download manager saves the file from a
 * signed link.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import type { TestStack, TestUser } from '../helpers/stack.js';
import { hasChromium, newPage, openSignedIn, savedFileDigest, shot, startBrowserStack, stopBrowserStack, stubSavePicker, uploadFile, withoutSavePicker } from './browser.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe.skipIf(!hasChromium)('downloads in Chromium: streamed to disk, verified', () => {
  let stack: TestStack;
  let browser: Browser;
  let user: TestUser;
  /** 5 MiB and a bit: six chunks of at most 1 MiB. */
  const content = randomBytes(5 * 1024 * 1024 + 4321);

  beforeAll(async () => {
    ({ stack, browser } = await startBrowserStack({}));
    user = await stack.register();
    await uploadFile(stack, user, 'random.bin', content);
  }, 180_000);

  afterAll(() => stopBrowserStack({ stack, browser }));

  /** Record whether the downloads panel showed a row for `name` (it may be brief on a fast machine). */
  async function watchPanel(page: Page, name: string): Promise<() => Promise<boolean>> {
    await page.evaluate((n) => {
      const w = window as unknown as { panelSeen?: boolean };
      w.panelSeen = false;
      new MutationObserver(() => {
        if (document.querySelector(`[data-download="${n}"] [role="progressbar"]`)) w.panelSeen = true;
      }).observe(document.body, { subtree: true, childList: true });
    }, name);
    return () => page.evaluate(() => (window as unknown as { panelSeen?: boolean }).panelSeen === true);
  }

  it('saves a 5 MiB file of random bytes through the save dialog, streamed in one response, byte-exact', async () => {
    const page = await newPage(browser);
    await stubSavePicker(page);
    const calls: string[] = [];
    page.on('request', (r) => calls.push(new URL(r.url()).pathname));
    await openSignedIn(page, stack, user, '/');
    const row = page.locator('tr[data-file="random.bin"]');
    await row.waitFor();
    const panelSeen = await watchPanel(page, 'random.bin');
    await row.getByRole('button', { name: 'Download random.bin' }).click();
    await page.getByText('Saved “random.bin”.').waitFor({ timeout: 60_000 });
    expect(await panelSeen()).toBe(true);
    expect(await savedFileDigest(page, 'random.bin')).toEqual({ size: content.length, sha256: sha256(content) });
    expect(calls.filter((p) => p.endsWith('/download'))).toHaveLength(1);
    expect(calls.some((p) => p.endsWith('/manifest'))).toBe(false);
    await shot(page, 'download-saved.png', false);
    await page.context().close();
  }, 120_000);

  it('saves the same file chunk by chunk from the presigned replica URLs when the stream route refuses its size', async () => {
    const page = await newPage(browser);
    await stubSavePicker(page);
    // As a file over the Function URL's limit would be answered.
    await page.route('**/api/v1/files/*/download*', (route) =>
      route.fulfill({ status: 413, json: { success: false, error: { code: 'download_too_large', message: 'too large for one response' } } }),
    );
    const chunkRequests: string[] = [];
    page.on('requestfinished', (r) => {
      if (r.url().includes('X-Amz-Signature')) chunkRequests.push(r.url());
    });
    await openSignedIn(page, stack, user, '/');
    const row = page.locator('tr[data-file="random.bin"]');
    await row.getByRole('button', { name: 'Download random.bin' }).click();
    await page.getByText('Saved “random.bin”.').waitFor({ timeout: 60_000 });
    expect(await savedFileDigest(page, 'random.bin')).toEqual({ size: content.length, sha256: sha256(content) });
    expect(chunkRequests).toHaveLength(6);
    await page.context().close();
  }, 120_000);

  it('cancel stops the download and keeps no file, partial or empty', async () => {
    const page = await newPage(browser);
    await stubSavePicker(page);
    // The response is held until the download has been cancelled.
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    await page.route('**/api/v1/files/*/download*', async (route) => {
      await held;
      await route.continue().catch(() => undefined);
    });
    await openSignedIn(page, stack, user, '/');
    const row = page.locator('tr[data-file="random.bin"]');
    await row.getByRole('button', { name: 'Download random.bin' }).click();
    await page.getByRole('button', { name: 'Cancel download of random.bin' }).click();
    await page.getByText('Download of “random.bin” cancelled; nothing was kept.').waitFor();
    release();
    await page.locator('[data-download="random.bin"]').waitFor({ state: 'detached' });
    expect(await savedFileDigest(page, 'random.bin')).toBeNull();
    await page.context().close();
  }, 120_000);

  it('without the File System Access API, hands a signed link to the browser’s own downloads, which saves the file byte-exact', async () => {
    const page = await newPage(browser);
    await withoutSavePicker(page);
    const calls: string[] = [];
    page.on('request', (r) => calls.push(`${r.method()} ${new URL(r.url()).pathname}`));
    await openSignedIn(page, stack, user, '/');
    const row = page.locator('tr[data-file="random.bin"]');
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), row.getByRole('button', { name: 'Download random.bin' }).click()]);
    expect(download.suggestedFilename()).toBe('random.bin');
    expect(sha256(readFileSync(await download.path()))).toBe(sha256(content));
    // The browser's own download of the signed link; the page asked for the link and fetched no bytes.
    const url = new URL(download.url());
    expect(url.pathname).toMatch(/^\/api\/v1\/files\/[0-9a-f-]+\/download$/);
    expect(url.searchParams.get('link')).toBeTruthy();
    expect(calls.filter((c) => c.endsWith('/download-link'))).toHaveLength(1);
    expect(calls.filter((c) => c.startsWith('GET ') && (c.endsWith('/download') || c.endsWith('/manifest')))).toEqual([]);
    await page.context().close();
  }, 120_000);
});
