/**
 * The account page in Chromium against the real local stack: a wrong current password is reported
 * at its field (which gets focus); a password change keeps this browser signed in with the new
 * session while the old token stops working; sign-out revokes the session on the server
 * (POST /api/v1/auth/logout). axe finds no serious violation in light or dark mode, desktop and phone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import type { TestStack } from '../helpers/stack.js';
import { hasChromium, newPage, openSignedIn, seriousViolations, shot, startBrowserStack, stopBrowserStack } from './browser.js';

describe.skipIf(!hasChromium)('account page in Chromium: password change and server-side sign-out', () => {
  let stack: TestStack;
  let browser: Browser;

  beforeAll(async () => void ({ stack, browser } = await startBrowserStack({})), 180_000);
  afterAll(() => stopBrowserStack({ stack, browser }));

  it('changes the password: errors at their fields, the new session kept, the old token revoked', async () => {
    const user = await stack.register();
    const page = await newPage(browser);
    await openSignedIn(page, stack, user, '/');
    await page.getByRole('link', { name: user.username }).click();
    await page.getByRole('heading', { name: 'Change password', exact: true }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/account');
    expect(await seriousViolations(page)).toEqual([]);

    await page.getByLabel('Current password').fill('not-my-password');
    await page.getByLabel('New password', { exact: true }).fill('brand-new-pass-1');
    await page.getByLabel('New password again').fill('brand-new-pass-1');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.locator('#current_password-error').waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('account-current_password');
    expect(await seriousViolations(page)).toEqual([]);
    await shot(page, 'account-wrong-password.png');

    await page.getByLabel('Current password').fill(user.password);
    await page.getByLabel('New password again').fill('something-else-1');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.locator('#confirm_password-error').waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('account-confirm_password');

    await page.getByLabel('New password again').fill('brand-new-pass-1');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText('Password changed. Other devices are signed out.').waitFor();
    // The old token is revoked; the page carries on with the new one.
    expect((await stack.fetchJson('/api/v1/auth/me', { token: user.token })).status).toBe(401);
    const stored = await page.evaluate(() => JSON.parse(localStorage.getItem('echofs.session') ?? '{}') as { token?: string });
    expect(stored.token && stored.token !== user.token).toBe(true);
    expect((await stack.fetchJson('/api/v1/auth/me', { token: stored.token })).status).toBe(200);
    await page.getByRole('link', { name: 'Files' }).click();
    await page.getByRole('heading', { name: 'Files', exact: true }).waitFor();
    const login = await stack.fetchJson('/api/v1/auth/login', { body: { email: user.email, password: 'brand-new-pass-1' } });
    expect(login.status).toBe(200);

    // Sign out revokes the session on the server, not only in this browser.
    const logout = page.waitForRequest((r) => r.url().endsWith('/api/v1/auth/logout') && r.method() === 'POST');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await logout;
    await page.getByRole('heading', { name: 'Sign in', exact: true }).waitFor();
    await expect.poll(async () => (await stack.fetchJson('/api/v1/auth/me', { token: stored.token })).status).toBe(401);
    await page.context().close();
  });

  it('is clean in dark mode and on a phone', async () => {
    const user = await stack.register();
    for (const o of [{ dark: true }, { width: 390, height: 844 }, { width: 390, height: 844, dark: true }]) {
      const page = await newPage(browser, o);
      await openSignedIn(page, stack, user, '/account');
      await page.getByRole('heading', { name: 'Change password', exact: true }).waitFor();
      expect(await seriousViolations(page)).toEqual([]);
      expect(await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
      // The account link is reachable on a phone too.
      expect(await page.getByRole('link', { name: user.username }).isVisible()).toBe(true);
      await shot(page, `account${o.dark ? '-dark' : ''}${o.width ? '-phone' : ''}.png`);
      await page.context().close();
    }
  });
});
