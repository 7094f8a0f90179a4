// @vitest-environment jsdom
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { App, EXPIRED_MESSAGE } from '../../web/src/App.js';
import { createApi, type ApiOptions } from '../../web/src/api.js';
import { fakeFetch, jwt, USER } from './fake-fetch.js';

const future = () => Math.floor(Date.now() / 1000) + 3600;

function appWith(routes: Parameters<typeof fakeFetch>[0]) {
  const f = fakeFetch(routes);
  const factory = (o: ApiOptions = {}) => createApi({ ...o, fetch: f.fetch });
  render(<App apiFactory={factory} />);
  return f;
}

beforeEach(() => {
  localStorage.clear();
  window.history.replaceState(null, '', '/');
});
afterEach(cleanup);

describe('App sessions', () => {
  it('signs in with email and password, shows the files page, and signs out', async () => {
    const token = jwt({ sub: 'u1', exp: future() });
    const f = appWith({
      'POST /api/v1/auth/login': () => ({ body: { success: true, token, user: USER } }),
      'GET /api/v1/files': () => ({ body: { success: true, data: [], next_cursor: null } }),
      'GET /v1/status': () => ({ status: 503 }),
    });
    expect(await screen.findByRole('heading', { name: 'Sign in' })).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Email'), { target: { value: 'ann@example.com' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'correct horse' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByRole('heading', { name: 'Files' })).toBeTruthy();
    expect(await screen.findByText('No files yet')).toBeTruthy();
    expect(f.calls.find((c) => c.path === '/api/v1/auth/login')?.body).toEqual({ email: 'ann@example.com', password: 'correct horse' });
    expect(JSON.parse(localStorage.getItem('echofs.session') ?? '{}').token).toBe(token);
    fireEvent.click(screen.getByRole('button', { name: 'Sign out' }));
    expect(await screen.findByText('You have signed out.')).toBeTruthy();
    expect(localStorage.getItem('echofs.session')).toBeNull();
  });

  it('shows the server error message for wrong credentials and stays on sign in', async () => {
    appWith({
      'POST /api/v1/auth/login': () => ({ status: 401, body: { success: false, error: { code: 'invalid_credentials', message: 'Wrong email or password.' } } }),
    });
    fireEvent.change(await screen.findByLabelText('Email'), { target: { value: 'x@example.com' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'nope-nope' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Wrong email or password.');
    expect(screen.getByRole('heading', { name: 'Sign in' })).toBeTruthy();
  });

  it('signs up, refusing a short password before calling the server', async () => {
    window.history.replaceState(null, '', '/signup');
    const f = appWith({
      'POST /api/v1/auth/register': () => ({ status: 201, body: { success: true, token: jwt({ exp: future() }), user: USER } }),
      'GET /api/v1/files': () => ({ body: { success: true, data: [] } }),
    });
    fireEvent.change(await screen.findByLabelText('Username'), { target: { value: 'ann' } });
    fireEvent.change(screen.getByLabelText('Email'), { target: { value: 'ann@example.com' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'short' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    expect((await screen.findByRole('alert')).textContent).toMatch(/at least 8 characters/);
    expect(f.calls).toHaveLength(0);
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'long enough' } });
    fireEvent.click(screen.getByRole('button', { name: 'Create account' }));
    expect(await screen.findByRole('heading', { name: 'Files' })).toBeTruthy();
    expect(f.calls[0]?.body).toEqual({ username: 'ann', email: 'ann@example.com', password: 'long enough' });
  });

  it('sends the user back to sign in with a message when a request answers 401 (expired session)', async () => {
    localStorage.setItem('echofs.session', JSON.stringify({ token: jwt({ exp: future() }), user: USER }));
    appWith({
      'GET /api/v1/files': () => ({ status: 401, body: { success: false, error: { code: 'token_expired', message: 'Token expired.' } } }),
      'GET /v1/status': () => ({ status: 401 }),
    });
    expect(await screen.findByText(EXPIRED_MESSAGE)).toBeTruthy();
    expect(screen.getByRole('heading', { name: 'Sign in' })).toBeTruthy();
    expect(localStorage.getItem('echofs.session')).toBeNull();
  });

  it('does not restore a stored session whose token has expired', async () => {
    localStorage.setItem('echofs.session', JSON.stringify({ token: jwt({ exp: Math.floor(Date.now() / 1000) - 10 }), user: USER }));
    const f = appWith({});
    expect(await screen.findByText(EXPIRED_MESSAGE)).toBeTruthy();
    await act(async () => undefined);
    expect(f.calls).toHaveLength(0);
  });

  it('keeps a non-admin away from the consistency dashboard', async () => {
    localStorage.setItem('echofs.session', JSON.stringify({ token: jwt({ exp: future() }), user: USER }));
    window.history.replaceState(null, '', '/admin');
    appWith({ 'GET /api/v1/files': () => ({ body: { success: true, data: [] } }) });
    expect(await screen.findByRole('heading', { name: 'Files' })).toBeTruthy();
    await waitFor(() => expect(window.location.pathname).toBe('/'));
    expect(screen.queryByRole('link', { name: 'Consistency' })).toBeNull();
  });
});
