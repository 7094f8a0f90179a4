/**
 * Editing files in Chromium against the real local stack: restoring an earlier version from the
 * versions view (a new current version with the old bytes), renaming (a taken name is reported at
 * the field, which gets focus), and deleting a file in the trash forever after a confirmation, with
 * the trash's retention period shown. axe finds no serious violation in light or dark mode, on a
 * desktop and a phone viewport.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { TestStack, TestUser } from '../helpers/stack.js';
import { hasChromium, newPage, openSignedIn, seriousViolations, shot, startBrowserStack, stopBrowserStack, uploadFile } from './browser.js';

async function text(stack: TestStack, user: TestUser, id: string): Promise<string> {
  const res = await fetch(`${stack.url}/api/v1/files/${id}/download`, { headers: { Authorization: `Bearer ${user.token}` } });
  return res.text();
}

async function noSeriousViolations(page: Page): Promise<void> {
  expect(await seriousViolations(page)).toEqual([]);
}

describe.skipIf(!hasChromium)('editing files in Chromium: restore a version, rename, delete forever', () => {
  let stack: TestStack;
  let browser: Browser;

  beforeAll(async () => void ({ stack, browser } = await startBrowserStack({ ECHOFS_TRASH_RETENTION_SECONDS: String(7 * 86400) })), 180_000);
  afterAll(() => stopBrowserStack({ stack, browser }));

  it('restores version 1 from the versions view: the file gets version 3 with the bytes of version 1', async () => {
    const user = await stack.register();
    const f = await uploadFile(stack, user, 'plan.txt', 'plan A');
    await uploadFile(stack, user, 'plan.txt', 'plan B');
    for (const dark of [false, true]) {
      const page = await newPage(browser, { dark });
      await openSignedIn(page, stack, user, '/');
      await page.getByRole('button', { name: 'Versions of plan.txt' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('button', { name: 'Download version 1' }).waitFor();
      // The current version has no Restore button; older ones do.
      expect(await dialog.getByRole('button', { name: /^Restore version/ }).count()).toBe(dark ? 2 : 1);
      await noSeriousViolations(page);
      await shot(page, `versions-restore${dark ? '-dark' : ''}.png`, false);
      if (!dark) {
        await dialog.getByRole('button', { name: 'Restore version 1' }).click();
        await page.getByText('Restored version 1 of “plan.txt” as version 3.').waitFor();
        await dialog.getByRole('button', { name: 'Download version 3' }).waitFor();
        await expect.poll(() => page.locator('tr[data-file="plan.txt"] td[data-label="Version"]').textContent()).toBe('v3');
        expect(await text(stack, user, f.file_id)).toBe('plan A');
      }
      await page.context().close();
    }
  });

  it('renames a file: a taken name is reported at the field, which gets focus; a free one renames it', async () => {
    const user = await stack.register();
    const f = await uploadFile(stack, user, 'draft.txt', 'words');
    await uploadFile(stack, user, 'final.txt', 'other');
    const page = await newPage(browser, { dark: true });
    await openSignedIn(page, stack, user, '/');
    await page.getByRole('button', { name: 'Rename draft.txt' }).click();
    const field = page.getByLabel('New name');
    await field.fill('final.txt');
    await page.getByRole('dialog').getByRole('button', { name: 'Rename' }).click();
    const err = page.locator('#rename-name-error');
    await err.waitFor();
    expect(await err.textContent()).toContain('final.txt');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('rename-name');
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    await noSeriousViolations(page);
    await shot(page, 'rename-taken-dark.png', false);
    await field.fill('report.txt');
    await page.getByRole('dialog').getByRole('button', { name: 'Rename' }).click();
    await page.locator('tr[data-file="report.txt"]').waitFor();
    await page.getByText('Renamed “draft.txt” to “report.txt”.').waitFor();
    expect(await page.locator('tr[data-file="draft.txt"]').count()).toBe(0);
    const r = await stack.fetchJson(`/api/v1/files/${f.file_id}`, { token: user.token });
    expect(r.body.data.name).toBe('report.txt');
    await page.context().close();
  });

  it('deletes a file in the trash forever after a confirmation, on a phone, and shows the retention period', async () => {
    const user = await stack.register();
    const doomed = await uploadFile(stack, user, 'old-photos.zip', 'zip');
    const kept = await uploadFile(stack, user, 'kept.txt', 'kept');
    for (const f of [doomed, kept]) expect((await stack.fetchJson(`/api/v1/files/${f.file_id}`, { method: 'DELETE', token: user.token })).status).toBe(200);
    for (const dark of [false, true]) {
      const page = await newPage(browser, { width: 390, height: 844, dark });
      await openSignedIn(page, stack, user, '/trash');
      await page.locator('tr[data-trash="kept.txt"]').waitFor();
      expect(await page.getByTestId('trash-retention').textContent()).toContain('for 7 days; then they are deleted for good');
      // The row's actions fit the phone's width.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await noSeriousViolations(page);
      if (!dark) {
        await page.getByRole('button', { name: 'Delete forever: old-photos.zip' }).click();
        const dialog = page.getByRole('dialog');
        await dialog.getByText('This cannot be undone.').waitFor();
        await noSeriousViolations(page);
        await shot(page, 'trash-delete-forever-phone.png', false);
        // Cancel keeps it.
        await dialog.getByRole('button', { name: 'Cancel' }).click();
        expect(await page.locator('tr[data-trash="old-photos.zip"]').count()).toBe(1);
        await page.getByRole('button', { name: 'Delete forever: old-photos.zip' }).click();
        await dialog.getByRole('button', { name: 'Delete forever' }).click();
        await page.getByText('Deleted “old-photos.zip” forever.').waitFor();
        await page.locator('tr[data-trash="old-photos.zip"]').waitFor({ state: 'detached' });
      } else {
        expect(await page.locator('tr[data-trash="old-photos.zip"]').count()).toBe(0);
        await shot(page, 'trash-phone-dark.png');
      }
      await page.context().close();
    }
    const bin = await stack.fetchJson('/api/v1/files?deleted=true', { token: user.token });
    expect(bin.body.data.map((x: { name: string }) => x.name)).toEqual(['kept.txt']);
    expect((await stack.fetchJson(`/api/v1/files/${doomed.file_id}/restore`, { method: 'POST', token: user.token })).status).toBe(404);
  });
});
