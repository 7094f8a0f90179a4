/**
 * The file list in Chromium against the real local stack: the trash restores a deleted file,
 * search and sort work with pages read through the server's cursor, and uploading a name that
 * exists asks to replace it (a new version) or keep both (a renamed copy). A list of 10,000 files
 * (served by a route stub that honours limit and cursor like the server) stays paged and searchable.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Route } from 'playwright-core';
import type { TestStack, TestUser } from '../helpers/stack.js';
import { hasChromium, newPage, openSignedIn, seriousViolations, shot, startBrowserStack, stopBrowserStack, uploadFile } from './browser.js';

async function names(stack: TestStack, user: TestUser): Promise<{ name: string; version: number }[]> {
  const r = await stack.fetchJson('/api/v1/files', { token: user.token });
  return (r.body.data as { name: string; version: number }[]).map((f) => ({ name: f.name, version: f.version }));
}

describe.skipIf(!hasChromium)('file list in Chromium: trash, search, sort, pages, replace or keep both', () => {
  let stack: TestStack;
  let browser: Browser;

  beforeAll(async () => void ({ stack, browser } = await startBrowserStack({})), 180_000);
  afterAll(() => stopBrowserStack({ stack, browser }));

  it('restores a deleted file from the trash view', async () => {
    const user = await stack.register();
    const f = await uploadFile(stack, user, 'budget.xlsx', 'numbers');
    await uploadFile(stack, user, 'keep.txt', 'stays');
    const page = await newPage(browser);
    await openSignedIn(page, stack, user, '/');
    await page.getByRole('button', { name: 'Delete budget.xlsx' }).click();
    await page.locator('tr[data-file="budget.xlsx"]').waitFor({ state: 'detached' });
    await page.getByRole('link', { name: 'Trash' }).click();
    const row = page.locator('tr[data-trash="budget.xlsx"]');
    await row.waitFor();
    expect(await page.locator('tr[data-trash="keep.txt"]').count()).toBe(0);
    await shot(page, 'trash.png');
    await row.getByRole('button', { name: 'Restore budget.xlsx' }).click();
    await page.getByText('Restored “budget.xlsx” to your files.').waitFor();
    await row.waitFor({ state: 'detached' });
    await page.getByText('The trash is empty').waitFor();
    await page.getByRole('link', { name: 'Files' }).click();
    await page.locator('tr[data-file="budget.xlsx"]').waitFor();
    expect((await names(stack, user)).map((x) => x.name).sort()).toEqual(['budget.xlsx', 'keep.txt']);
    const dl = await fetch(`${stack.url}/api/v1/files/${f.file_id}/download`, { headers: { Authorization: `Bearer ${user.token}` } });
    expect(await dl.text()).toBe('numbers');
    await page.context().close();
  });

  it('pages through 120 files with the server cursor, searches by part of a name, and sorts by size and by modified time', async () => {
    const user = await stack.register();
    const all: string[] = [];
    for (let i = 0; i < 120; i++) all.push(`doc-${String(i).padStart(3, '0')}.txt`);
    for (let i = 0; i < all.length; i += 8) await Promise.all(all.slice(i, i + 8).map((n, j) => uploadFile(stack, user, n, 'x'.repeat(i + j + 1))));
    // The newest file is uploaded last: it must come first when sorted by "Modified".
    await uploadFile(stack, user, 'zz-latest.txt', 'new');
    const page = await newPage(browser);
    const listCalls: string[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/v1/files') listCalls.push(new URL(r.url()).search);
    });
    await openSignedIn(page, stack, user, '/');
    const rows = page.locator('tbody tr[data-file]');
    await page.locator('tr[data-file="doc-000.txt"]').waitFor();
    expect(await rows.count()).toBe(50);
    expect(listCalls[0]).toContain('limit=50');
    await page.getByRole('button', { name: 'Next' }).click();
    await page.locator('tr[data-file="doc-050.txt"]').waitFor();
    expect(listCalls.some((q) => q.includes('cursor='))).toBe(true);
    await page.getByRole('button', { name: 'Next' }).click();
    await page.locator('tr[data-file="zz-latest.txt"]').waitFor();
    expect(await rows.count()).toBe(21);
    expect(await page.getByRole('button', { name: 'Next' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Previous' }).click();
    await page.locator('tr[data-file="doc-099.txt"]').waitFor();

    await page.getByRole('searchbox', { name: 'Search files by name' }).fill('DOC-11');
    await expect.poll(() => rows.evaluateAll((rs) => rs.map((r) => r.getAttribute('data-file')))).toEqual(
      ['doc-110.txt', 'doc-111.txt', 'doc-112.txt', 'doc-113.txt', 'doc-114.txt', 'doc-115.txt', 'doc-116.txt', 'doc-117.txt', 'doc-118.txt', 'doc-119.txt'],
    );
    await page.getByText('10 matches').waitFor();
    await shot(page, 'files-search.png');
    await page.getByRole('searchbox', { name: 'Search files by name' }).fill('');

    await page.getByRole('button', { name: 'Modified' }).click();
    await expect.poll(() => rows.first().getAttribute('data-file')).toBe('zz-latest.txt');
    expect(await page.locator('th[aria-sort="descending"]').textContent()).toContain('Modified');
    const modified = await rows.evaluateAll((rs) => rs.map((r) => r.querySelector('td[data-label="Modified"]')?.getAttribute('title') ?? ''));
    const times = modified.map((t) => Date.parse(t));
    expect(times.every((t) => Number.isFinite(t))).toBe(true);
    expect(times).toEqual([...times].sort((a, b) => b - a));

    await page.getByRole('button', { name: 'Size' }).click();
    await expect.poll(() => rows.first().getAttribute('data-file')).toBe('doc-119.txt'); // 120 bytes, the largest
    await page.getByRole('button', { name: 'Size' }).click();
    await expect.poll(() => rows.first().getAttribute('data-file')).toBe('doc-000.txt');
    await page.context().close();
  }, 120_000);

  it('asks "replace or keep both" for a name that exists: replace makes version 2, keep both uploads a renamed copy', async () => {
    const user = await stack.register();
    await uploadFile(stack, user, 'notes.txt', 'first');
    const page = await newPage(browser);
    await openSignedIn(page, stack, user, '/');
    await page.locator('tr[data-file="notes.txt"]').waitFor();

    await page.getByTestId('file-input').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('second') });
    const dialog = page.getByRole('dialog');
    await dialog.getByText('already exists').waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await shot(page, 'upload-conflict.png', false);
    await dialog.getByRole('button', { name: 'Replace' }).click();
    await page.locator('[data-upload="notes.txt"]').getByText('Uploaded').waitFor();
    await expect.poll(() => page.locator('tr[data-file="notes.txt"] td[data-label="Version"]').textContent()).toBe('v2');

    await page.getByTestId('file-input').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('third') });
    await dialog.getByText('already exists').waitFor();
    await dialog.getByRole('button', { name: 'Keep both' }).click();
    await page.locator('[data-upload="notes (1).txt"]').getByText('Uploaded').waitFor();
    await page.locator('tr[data-file="notes (1).txt"]').waitFor();
    expect((await names(stack, user)).sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: 'notes (1).txt', version: 1 },
      { name: 'notes.txt', version: 2 },
    ]);
    await page.context().close();
  });

  it('holds 10,000 files: 50 rows at a time, paged and searched, the list read 1,000 at a time through the cursor', async () => {
    const user = await stack.register();
    const N = 10_000;
    const at = Date.parse('2026-01-01T00:00:00Z');
    const items = Array.from({ length: N }, (_, i) => ({
      file_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      name: `file-${String(i).padStart(5, '0')}.bin`,
      size: i,
      version: 1,
      chunks: 1,
      uploaded: new Date(at + i * 1000).toISOString(),
    }));
    const pageSizes: number[] = [];
    const page = await newPage(browser);
    await page.route('**/api/v1/files?*', async (route: Route) => {
      const q = new URL(route.request().url()).searchParams;
      if (q.get('deleted') === 'true' || q.has('name')) return route.continue();
      const limit = Number(q.get('limit') ?? '1000');
      const start = q.get('cursor') ? Number(q.get('cursor')) : 0;
      const data = items.slice(start, start + limit);
      pageSizes.push(limit);
      const next = start + limit < N ? String(start + limit) : null;
      await route.fulfill({ json: { success: true, data, count: data.length, limit, next_cursor: next } });
    });
    await openSignedIn(page, stack, user, '/');
    await page.locator('tr[data-file="file-00000.bin"]').waitFor();
    expect(await page.locator('tbody tr[data-file]').count()).toBe(50);
    await page.getByRole('searchbox', { name: 'Search files by name' }).fill('file-0999');
    await page.getByText('10 matches').waitFor();
    expect(pageSizes.filter((l) => l === 1000)).toHaveLength(10);
    await page.getByRole('searchbox', { name: 'Search files by name' }).fill('');
    await page.getByRole('button', { name: 'Modified' }).click();
    await expect.poll(() => page.locator('tbody tr[data-file]').first().getAttribute('data-file')).toBe('file-09999.bin');
    await page.getByText('Page 1 of 200').waitFor();
    expect(await page.locator('tbody tr[data-file]').count()).toBe(50);
    await page.context().close();
  }, 120_000);
});
