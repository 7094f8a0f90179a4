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
});

function renderDashboard(routes: Parameters<typeof fakeFetch>[0]) {
  const f = fakeFetch({
    'GET /v1/audit': () => ({ body: { success: true, entries: [{ id: 'e1', at: Date.now(), kind: 'operator', actor: 'root@example.com', action: 'set_override', reason: 'global override to H', to: 'H' }] } }),
    'GET /v1/critical-keys': () => ({ body: { success: true, critical_keys: ['ledger/*'], items: [{ key: 'ledger/*', added_by: 'a1', added_at: new Date().toISOString() }] } }),
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

  it('keeps a client-side history and draws it, following a mode change', async () => {
    let mode = 'C';
    renderDashboard({ 'GET /v1/status': () => ({ body: status(mode, mode === 'A' ? [true, false, false] : [true, true, true]) }) });
    await waitFor(() => expect(document.querySelectorAll('.band-C').length).toBeGreaterThan(1));
    mode = 'A';
    await waitFor(() => expect(screen.getByTestId('current-mode').getAttribute('data-mode')).toBe('A'));
    await waitFor(() => expect(document.querySelector('svg rect.band-A')).not.toBeNull());
    expect(document.querySelector('svg path.score-line')?.getAttribute('d')).toMatch(/^M/);
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
