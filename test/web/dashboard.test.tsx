// @vitest-environment jsdom
import { afterEach, describe, expect, it } from 'vitest';
import { cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { createApi } from '../../web/src/api.js';
import { Dashboard } from '../../web/src/components/Dashboard.js';
import { ToastProvider } from '../../web/src/components/ui.js';
import { fakeFetch } from './fake-fetch.js';

afterEach(cleanup);

const status = (mode: string, reachable: boolean[]) => ({
  mode,
  score: mode === 'A' ? 0.82 : 0.1,
  parts: { partition: 0.27, lag: 0, writes: 0, hint: 0, penalty: 0 },
  inputs: { partition: 0.67, lag: 0, writes: 0, hint: 0, penalty: 0 },
  thresholds: { available_above: 0.6, strong_below: 0.3 },
  samples: [],
  global_override: null,
  object_overrides: 0,
  critical_keys: 0,
  replicas: ['us-east-1', 'eu-west-1', 'ap-southeast-1'].map((region, i) => ({ region, reachable: reachable[i], latency_ewma_ms: reachable[i] ? 4.2 : null, error_rate: reachable[i] ? 0 : 1 })),
  backlog: { pending: 7, missing: 0 },
  replication_lag_ms: 1200,
  transitions: mode === 'A' ? [{ id: 't1', at: Date.now(), kind: 'transition', actor: 'controller', action: 'transition', from: 'C', to: 'A', reason: 'emergency: 2 of 3 replicas unreachable' }] : [],
  timestamp: new Date().toISOString(),
  weights: { partition: 0.4, lag: 0.3, writes: 0.2, hint: 0.1, penalty: 0.2 },
  health_window: { operations: 50 },
  object_override_list: [],
  hints: [],
  emergency: mode === 'A',
});

const parts0 = { partition: 0, lag: 0, writes: 0, hint: 0, penalty: 0 };

/** A stored history: C until a fault at t0 + 20 s, A (emergency) from t0 + 25 s, the fault marked. */
function storedHistory(t0: number) {
  const samples = Array.from({ length: 12 }, (_, i) => {
    const at = t0 + i * 5000;
    const a = at >= t0 + 25_000;
    return { at, score: a ? 0.27 : 0.05, parts: parts0, proposed: a ? 'A' : 'C', mode: a ? 'A' : 'C', emergency: a };
  });
  const events = [
    { id: 'f1', at: t0 + 20_000, kind: 'fault_injected', actor: 'root@example.com', reason: 'eu-west-1: blackhole', region: 'eu-west-1' },
    { id: 'm1', at: t0 + 25_000, kind: 'mode_change', actor: 'controller', reason: 'emergency: 2 of 3 replicas unreachable', from: 'C', to: 'A', emergency: true },
  ];
  return { success: true, from: new Date(t0 - 240_000).toISOString(), to: new Date(t0 + 60_000).toISOString(), window_ms: 300_000, max_window_ms: 86_400_000, bucket_ms: 0, samples, events, truncated: false };
}

function renderDashboard(routes: Parameters<typeof fakeFetch>[0]) {
  const f = fakeFetch({
    'GET /v1/audit': () => ({ body: { success: true, entries: [{ id: 'e1', at: Date.now(), kind: 'operator', actor: 'root@example.com', action: 'set_override', reason: 'global override to H', to: 'H' }] } }),
    'GET /v1/critical-keys': () => ({ body: { success: true, critical_keys: ['ledger/*'], items: [{ key: 'ledger/*', added_by: 'a1', added_at: new Date().toISOString() }] } }),
    'GET /v1/history': () => ({ body: { success: true, from: new Date().toISOString(), to: new Date().toISOString(), window_ms: 300_000, max_window_ms: 86_400_000, bucket_ms: 0, samples: [], events: [], truncated: false } }),
    ...routes,
  });
  const api = createApi({ fetch: f.fetch, getToken: () => 't' });
  render(
    <ToastProvider>
      <Dashboard api={api} pollMs={50} />
    </ToastProvider>,
  );
  return f;
}

describe('Dashboard', () => {
  it('in emergency, says why mode A holds with a score in the C band, and shows no stale latency for unreachable replicas', async () => {
    const body = { ...status('A', [true, false, false]), score: 0.27, replicas: status('A', [true, false, false]).replicas.map((r, i) => (i === 0 ? r : { ...r, latency_ewma_ms: 88, last_ok_at: new Date(Date.now() - 120_000).toISOString() })) };
    renderDashboard({ 'GET /v1/status': () => ({ body }), 'GET /api/v1/local/faults': () => ({ status: 404 }) });
    const note = await screen.findByTestId('mode-vs-score');
    expect(note.textContent).toMatch(/Score is in the C band, but emergency: too many replicas are unreachable, so mode A is taken at once/);
    const cut = document.querySelector('tr[data-region="eu-west-1"]') as HTMLElement;
    expect(within(cut).getByTestId('no-answer').textContent).toBe('no answer · last reply 2 min ago');
    expect(cut.textContent).not.toContain('88 ms');
    expect(screen.getByRole('columnheader', { name: 'Errors (last 50 ops)' })).toBeTruthy();
    // Risk meters: high is bad (red), low is good (green).
    const meter = document.querySelector('meter') as HTMLMeterElement;
    expect([meter.getAttribute('optimum'), meter.getAttribute('low'), meter.getAttribute('high')]).toEqual(['0', '0.3', '0.6']);
  });

  it('shows the mode, its reason, the score parts, replica health, backlog and audit log', async () => {
    renderDashboard({ 'GET /v1/status': () => ({ body: status('A', [true, false, false]) }), 'GET /api/v1/local/faults': () => ({ status: 404 }) });
    const mode = await screen.findByTestId('current-mode');
    expect(mode.getAttribute('data-mode')).toBe('A');
    expect(screen.getByTestId('mode-reason').textContent).toBe('emergency: 2 of 3 replicas unreachable');
    expect(screen.getByTestId('score').textContent).toBe('0.82');
    expect(screen.getByText('1/3 reachable')).toBeTruthy();
    const eu = document.querySelector('tr[data-region="eu-west-1"]') as HTMLElement;
    expect(within(eu).getByText('unreachable')).toBeTruthy();
    expect(screen.getByTestId('backlog').textContent).toBe('7');
    expect(screen.getByText('1.2 s')).toBeTruthy();
    expect(await screen.findByText('global override to H')).toBeTruthy();
    expect(await screen.findByText('ledger/*')).toBeTruthy();
    // No fault panel outside local mode.
    expect(screen.queryByText(/Fault injection/)).toBeNull();
  });

  it('draws the timeline from the server history: two fresh loads show the same samples and markers; hovering a marker says what it was', async () => {
    const t0 = Date.now() - 60_000;
    const history = storedHistory(t0);
    const seen: string[] = [];
    const picture = () => ({
      path: document.querySelector('svg path.score-line')?.getAttribute('d'),
      bands: [...document.querySelectorAll('svg rect.band')].map((b) => b.getAttribute('class')),
      markers: [...document.querySelectorAll('[data-marker]')].map((m) => [m.getAttribute('data-marker'), m.getAttribute('data-region')]),
    });
    const load = async () => {
      const f = renderDashboard({
        'GET /v1/status': () => ({ body: { ...status('A', [true, false, false]), score: 0.27, timestamp: new Date(t0 + 60_000).toISOString() } }),
        'GET /v1/history': ({ query }) => {
          seen.push(query.get('from') ?? '');
          return { body: history };
        },
      });
      await waitFor(() => expect(document.querySelectorAll('[data-marker]').length).toBe(2));
      const p = picture();
      cleanup();
      return { p, f };
    };
    const first = await load();
    const second = await load();
    expect(first.p.markers).toEqual([['fault_injected', 'eu-west-1'], ['mode_change', null]]);
    expect(first.p.bands).toEqual(['band band-C', 'band band-A']);
    expect(first.p.path).toMatch(/^M[\d.]+ [\d.]+( L[\d.]+ [\d.]+){11}$/);
    expect(second.p).toEqual(first.p);
    // The first read asks for the whole default range (5 min).
    expect(Number(seen[0])).toBeGreaterThan(Date.now() - 5 * 60_000 - 5000);

    renderDashboard({ 'GET /v1/status': () => ({ body: { ...status('A', [true, false, false]), timestamp: new Date(t0 + 60_000).toISOString() } }), 'GET /v1/history': () => ({ body: history }) });
    const marker = await waitFor(() => {
      const m = document.querySelector('[data-marker="fault_injected"]');
      expect(m).not.toBeNull();
      return m as Element;
    });
    fireEvent.mouseEnter(marker);
    expect((await screen.findByTestId('chart-tooltip')).textContent).toMatch(/Fault injected: eu-west-1: blackhole · by root@example.com/);
    // Axes with units: score ticks and local-time ticks.
    expect(screen.getByText('score (0–1)')).toBeTruthy();
    expect([...document.querySelectorAll('.axis text')].some((t) => /^\d\d:\d\d/.test(t.textContent ?? ''))).toBe(true);
  });

  it('the range picker reads the chosen range from the server', async () => {
    const froms: number[] = [];
    renderDashboard({
      'GET /v1/status': () => ({ body: status('C', [true, true, true]) }),
      'GET /v1/history': ({ query }) => {
        froms.push(Number(query.get('from')));
        return { body: storedHistory(Date.now() - 60_000) };
      },
    });
    fireEvent.click(await screen.findByRole('button', { name: '24 h' }));
    await waitFor(() => expect(froms.some((f) => f < Date.now() - 23 * 3_600_000)).toBe(true));
    expect(screen.getByRole('button', { name: '24 h' }).getAttribute('aria-pressed')).toBe('true');
  });

  it('shows the weights the server reports, the replica window, the objects under override, a saved hint, and a high score in its risk colour', async () => {
    renderDashboard({
      'GET /v1/status': () => ({
        body: {
          ...status('A', [true, true, true]),
          score: 0.9,
          weights: { partition: 0.9, lag: 0.3, writes: 0.2, hint: 0.1, penalty: 0.25 },
          health_window: { operations: 20 },
          object_overrides: 2,
          object_override_list: [
            { object_id: 'big/scratch.bin', mode: 'A', actor: 'root@example.com', at: new Date().toISOString() },
            { object_id: 'ledger.db', mode: 'C', actor: 'root@example.com', at: new Date().toISOString() },
          ],
          hints: [{ object_id: 'photos/*', hint: 'available' }],
        },
      }),
    });
    expect((await screen.findByTestId('weight-partition')).textContent).toBe('0.9');
    expect(screen.getByTestId('weight-penalty').textContent).toBe('−0.25');
    expect(screen.getByRole('columnheader', { name: 'Errors (last 20 ops)' })).toBeTruthy();
    expect(screen.getByTestId('health-window').textContent).toMatch(/last 20 ops/);
    const list = screen.getByTestId('override-list');
    expect([...list.querySelectorAll('code')].map((c) => c.textContent)).toEqual(['big/scratch.bin', 'ledger.db']);
    // Reopening a hinted object shows its saved hint.
    const form = screen.getByRole('heading', { name: 'Hint' }).closest('form') as HTMLElement;
    fireEvent.change(within(form).getByLabelText('Object id'), { target: { value: 'photos/*' } });
    expect(screen.getByTestId('saved-hint').textContent).toBe('Saved hint: available.');
    expect((within(form).getByLabelText('Hint') as HTMLSelectElement).value).toBe('available');
    // A score in the A band is drawn in the A (red) colour, never the ok (green) one.
    const score = screen.getByTestId('score');
    expect(score.getAttribute('data-band')).toBe('A');
    expect(score.className).toContain('score-band-A');
  });

  it('shows the fault panel in local mode and black-holes a replica from it', async () => {
    const posted: unknown[] = [];
    renderDashboard({
      'GET /v1/status': () => ({ body: status('C', [true, true, true]) }),
      'GET /api/v1/local/faults': () => ({ body: { success: true, faults: { 'us-east-1': { state: 'up', latency_ms: 0, jitter_ms: 0, loss: 0 }, 'eu-west-1': { state: 'up', latency_ms: 0, jitter_ms: 0, loss: 0 } } } }),
      'POST /api/v1/local/faults': ({ body }) => {
        posted.push(body);
        return { body: { success: true } };
      },
    });
    fireEvent.click(await screen.findByRole('button', { name: 'Partition eu-west-1' }));
    await waitFor(() => expect(posted).toEqual([{ region: 'eu-west-1', state: 'blackhole', latency_ms: 0, jitter_ms: 0, loss: 0 }]));
  });

  it('sets and clears a global override, and says so when the controller cannot be reached', async () => {
    const calls: string[] = [];
    let down = false;
    renderDashboard({
      'GET /v1/status': () => (down ? { status: 503, body: { success: false, error: { code: 'unavailable', message: 'Controller store unreachable.' } } } : { body: { ...status('C', [true, true, true]), global_override: calls.includes('set') ? 'H' : null } }),
      'POST /v1/override': ({ body }) => {
        calls.push('set');
        expect(body).toEqual({ mode: 'H' });
        return { body: { success: true } };
      },
    });
    const form = (await screen.findByRole('heading', { name: 'Global override' })).closest('form') as HTMLElement;
    fireEvent.change(within(form).getByLabelText('Mode'), { target: { value: 'H' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Set' }));
    expect(await screen.findByText('global override: H')).toBeTruthy();
    down = true;
    expect((await screen.findByRole('alert')).textContent).toMatch(/Lost contact with the controller: The service is temporarily unavailable\. Try again shortly\. Showing the last known state\./);
  });
});
