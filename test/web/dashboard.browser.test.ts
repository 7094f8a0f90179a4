/**
 * The dashboard's fault story in Chromium against the real local stack: an admin black-holes a
 * majority of the replicas from the dashboard's fault panel; the mode goes to A at once (the
 * emergency rule) and the timeline marks the faults and the mode change, each marker's handle
 * hoverable by itself although their times nearly coincide; the admin heals the replicas; after a
 * reload the timeline still shows the fault and heal markers (the history is the server's, GET
 * /v1/history), and the audit log lists the fault actions with the admin as their actor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator } from 'playwright-core';
import { ADMIN_EMAIL, type TestStack } from '../helpers/stack.js';
import { scaled } from '../helpers/load.js';
import { HANDLE_WIDTH } from '../../web/src/timeline.js';
import { hasChromium, newPage, openSignedIn, seriousViolations, shot, startBrowserStack, stopBrowserStack } from './browser.js';

/** Each marker's handle shows its own event's text when hovered (the handle's tooltip is its <title>). */
async function hoverEachHandle(timeline: Locator): Promise<string[]> {
  const tooltip = timeline.getByTestId('chart-tooltip');
  const seen: string[] = [];
  const markers = timeline.locator('g[data-marker]');
  const n = await markers.count();
  for (let i = 0; i < n; i++) {
    const marker = markers.nth(i);
    const title = (await marker.locator('title').textContent()) ?? '';
    // Playwright hovers only when the handle itself receives the pointer, not a neighbour over it.
    // The chart moves on with each poll: a hover that a shift carried off the handle is made again.
    await expect
      .poll(async () => {
        await marker.locator('rect.marker-handle').hover();
        return tooltip.textContent();
      })
      .toBe(title);
    seen.push(title);
  }
  return seen;
}

describe.skipIf(!hasChromium)('dashboard in Chromium: inject a fault, see A and the markers, heal, reload, audit', () => {
  let stack: TestStack;
  let browser: Browser;

  beforeAll(async () => void ({ stack, browser } = await startBrowserStack({ ECHOFS_PROBE_INTERVAL_MS: '300', ECHOFS_PROBE_TIMEOUT_MS: '400' })), 180_000);
  afterAll(() => stopBrowserStack({ stack, browser }));

  it('black-holes a majority from the fault panel: mode A, fault and mode-change markers each hoverable; healed, reloaded, audited with the admin as actor', async () => {
    const admin = await stack.registerAdmin();
    const page = await newPage(browser, { width: 1280, height: 1000 });
    await openSignedIn(page, stack, admin, '/admin');
    const mode = page.getByTestId('current-mode');
    await expect.poll(() => mode.getAttribute('data-mode'), { timeout: scaled(30_000) }).toBe('C');
    await page.getByRole('heading', { name: /Fault injection/ }).waitFor();

    const regions = await page.locator('form.fault-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-region') ?? ''));
    expect(regions.length).toBeGreaterThanOrEqual(3);
    const majority = Math.floor(regions.length / 2) + 1;
    const cut = regions.slice(0, majority);
    // Both partitions at once: their markers (and the mode change right after) crowd one spot.
    for (const r of cut) await page.getByRole('button', { name: `Partition ${r}` }).click();
    for (const r of cut) await page.getByRole('button', { name: `Heal ${r}` }).waitFor();

    await expect.poll(() => mode.getAttribute('data-mode'), { timeout: scaled(30_000), interval: 200 }).toBe('A');
    const timeline = page.getByTestId('timeline');
    const count = (kind: string) => timeline.locator(`g[data-marker="${kind}"]`).count();
    await expect.poll(() => count('fault_injected'), { timeout: scaled(30_000) }).toBe(majority);
    await expect.poll(async () => {
      const titles = await timeline.locator('g[data-marker="mode_change"] title').allTextContents();
      return titles.some((t) => t.includes('→ A'));
    }, { timeout: scaled(30_000) }).toBe(true);

    // The markers' lines are closer than a handle is wide (their handles would overlap where they
    // stand), yet every handle is apart and hoverable by itself.
    const lines = await timeline.locator('g[data-marker] > line:first-of-type').evaluateAll((ls) => ls.map((l) => Number(l.getAttribute('x1'))));
    const sorted = [...lines].sort((a, b) => a - b);
    expect(Math.min(...sorted.slice(1).map((x, i) => x - sorted[i]!))).toBeLessThan(HANDLE_WIDTH);
    const hovered = await hoverEachHandle(timeline);
    expect(hovered.filter((t) => t.includes('Fault injected'))).toHaveLength(majority);
    expect(hovered.some((t) => t.includes('Mode change'))).toBe(true);
    await shot(page, 'dashboard-fault-markers.png', true);

    for (const r of cut) await page.getByRole('button', { name: `Heal ${r}` }).click();
    for (const r of cut) await page.getByRole('button', { name: `Partition ${r}` }).waitFor();
    await expect.poll(() => count('fault_healed'), { timeout: scaled(30_000) }).toBe(majority);

    // A reload starts from the server's history: the markers are still there.
    await page.reload();
    await mode.waitFor();
    await expect.poll(() => count('fault_injected'), { timeout: scaled(30_000) }).toBe(majority);
    await expect.poll(() => count('fault_healed'), { timeout: scaled(30_000) }).toBe(majority);
    await hoverEachHandle(timeline);

    // The audit log names the admin as the actor of every fault action.
    const audit = page.locator('table.audit tbody tr');
    const faultRows = async () =>
      audit.evaluateAll((rows) =>
        rows
          .map((r) => ({ event: r.querySelector('td[data-label="Event"]')?.textContent ?? '', reason: r.querySelector('td[data-label="Reason"]')?.textContent ?? '', actor: r.querySelector('td[data-label="Actor"]')?.textContent ?? '' }))
          .filter((r) => /fault/.test(r.event)),
      );
    await expect.poll(async () => (await faultRows()).length, { timeout: scaled(30_000) }).toBe(2 * majority);
    const rows = await faultRows();
    expect(rows.every((r) => r.actor === ADMIN_EMAIL)).toBe(true);
    for (const r of cut) {
      expect(rows.some((x) => x.event === 'inject fault' && x.reason.startsWith(`${r}: blackhole`))).toBe(true);
      expect(rows.some((x) => x.event === 'heal fault' && x.reason.startsWith(`${r} healed`))).toBe(true);
    }
    expect(await seriousViolations(page)).toEqual([]);
    await page.context().close();
  }, 180_000);
});
