/**
 * Every page of the web app in Chromium: axe-core finds no serious or critical violation in the
 * light or the dark scheme (colour contrast and landmarks included), an unknown address shows a
 * 404 page, and a phone-sized screen (390×844) keeps a long file name from pushing the values of
 * the file cards off the screen. Screenshots go to test-artifacts/web/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { TestStack, TestUser } from '../helpers/stack.js';
import { hasChromium, newPage, openSignedIn, seriousViolations, shot, startBrowserStack, stopBrowserStack, uploadFile } from './browser.js';

const LONG_NAME = `quarterly-report-${'very-long-segment-'.repeat(12)}final.pdf`;
const CJK_NAME = '東京オフィスの四半期売上報告書と来年度の事業計画に関する詳細な資料.xlsx';

async function uploadSmall(stack: TestStack, user: TestUser, name: string, bytes = 2048): Promise<string> {
  return (await uploadFile(stack, user, name, new Uint8Array(bytes).fill(65))).file_id;
}

describe.skipIf(!hasChromium)('pages in Chromium: accessibility, 404, phone layout', () => {
  let stack: TestStack;
  let browser: Browser;
  let user: TestUser;
  let admin: TestUser;

  beforeAll(async () => {
    ({ stack, browser } = await startBrowserStack({ ECHOFS_PROBE_INTERVAL_MS: '500' }));
    user = await stack.register();
    admin = await stack.registerAdmin();
    await uploadSmall(stack, user, LONG_NAME);
    await uploadSmall(stack, user, CJK_NAME, 5 * 1024 * 1024 + 17);
    const gone = await uploadSmall(stack, user, 'old-notes.txt');
    await stack.fetchJson(`/api/v1/files/${gone}`, { method: 'DELETE', token: user.token });
  }, 180_000);

  afterAll(() => stopBrowserStack({ stack, browser }));

  /** Each page: how to reach it and what shows it has rendered. */
  const pages: { name: string; as?: 'user' | 'admin'; path: string; ready: (p: Page) => Promise<unknown> }[] = [
    { name: 'signin', path: '/signin', ready: (p) => p.getByRole('heading', { name: 'Sign in', exact: true }).waitFor() },
    { name: 'signup', path: '/signup', ready: (p) => p.getByRole('heading', { name: 'Create your account', exact: true }).waitFor() },
    { name: '404-signed-out', path: '/no/such/page', ready: (p) => p.getByRole('heading', { name: 'Page not found', exact: true }).waitFor() },
    { name: 'files', as: 'user', path: '/', ready: (p) => p.locator(`tr[data-file="${LONG_NAME}"]`).waitFor() },
    { name: 'trash', as: 'user', path: '/trash', ready: (p) => p.locator('tr[data-trash="old-notes.txt"]').waitFor() },
    { name: '404-signed-in', as: 'user', path: '/settingz', ready: (p) => p.getByRole('heading', { name: 'Page not found', exact: true }).waitFor() },
    { name: 'dashboard', as: 'admin', path: '/admin', ready: (p) => p.getByTestId('current-mode').waitFor() },
  ];

  for (const dark of [false, true]) {
    const scheme = dark ? 'dark' : 'light';
    it(`has no serious or critical axe violations on any page in the ${scheme} scheme`, async () => {
      const page = await newPage(browser, { dark });
      const found: Record<string, unknown> = {};
      for (const pg of pages) {
        if (pg.as) await openSignedIn(page, stack, pg.as === 'admin' ? admin : user, pg.path);
        else {
          await page.goto(`${stack.url}/signin`);
          await page.evaluate(() => localStorage.clear());
          await page.goto(stack.url + pg.path);
        }
        await pg.ready(page);
        await shot(page, `${pg.name}-${scheme}.png`);
        const v = await seriousViolations(page);
        if (v.length > 0) found[pg.name] = v;
      }
      // The versions dialog of a file, open over the list.
      await openSignedIn(page, stack, user, '/');
      await page.getByRole('button', { name: `Versions of ${CJK_NAME}` }).click();
      await page.getByRole('dialog').getByText('v1').waitFor();
      const dialog = await seriousViolations(page);
      if (dialog.length > 0) found['versions-dialog'] = dialog;
      expect(found).toEqual({});
      await page.context().close();
    }, 120_000);
  }

  it('shows a 404 page for an unknown address instead of the file list, with a way back', async () => {
    const page = await newPage(browser);
    await openSignedIn(page, stack, user, '/files/does-not-exist');
    await page.getByRole('heading', { name: 'Page not found', exact: true }).waitFor();
    expect(await page.getByRole('heading', { name: 'Files', exact: true }).count()).toBe(0);
    expect(await page.getByTestId('not-found').textContent()).toContain('/files/does-not-exist');
    await page.getByRole('button', { name: 'Go to your files' }).click();
    await page.getByRole('heading', { name: 'Files', exact: true }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    await page.context().close();
  });

  it('on a 390×844 phone, a long or non-Latin file name wraps and every card still shows its values', async () => {
    const page = await newPage(browser, { width: 390, height: 844 });
    await openSignedIn(page, stack, user, '/');
    const row = page.locator(`tr[data-file="${LONG_NAME}"]`);
    await row.waitFor();
    await page.locator(`tr[data-file="${CJK_NAME}"]`).waitFor();
    // Nothing is wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    for (const name of [LONG_NAME, CJK_NAME]) {
      const card = page.locator(`tr[data-file="${name}"]`);
      const box = await card.boundingBox();
      expect(box?.width).toBeLessThanOrEqual(390);
      for (const label of ['Size', 'Modified', 'Version']) {
        const cell = card.locator(`td[data-label="${label}"]`);
        const text = (await cell.innerText()).replace(label, '').trim();
        expect(text, `${label} of ${name}`).not.toBe('');
        const cb = await cell.boundingBox();
        expect((cb?.x ?? 0) + (cb?.width ?? 0), `${label} of ${name} inside the screen`).toBeLessThanOrEqual(390);
      }
    }
    expect(await page.locator(`tr[data-file="${CJK_NAME}"] td[data-label="Size"]`).innerText()).toContain('5.00 MiB');
    await shot(page, 'files-phone-long-names.png');
    await page.context().close();
  });
});
