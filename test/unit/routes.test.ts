import { describe, expect, it } from 'vitest';
import { matchRoute, pathExists, routeKey, routes } from '#shared/routes.js';

describe('route table', () => {
  it('has no duplicate method and path', () => {
    const keys = routes.map(routeKey);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('serves the auth routes, the published profile among them, from the auth function', () => {
    const auth = routes.filter((r) => r.fn === 'auth').map(routeKey).sort();
    expect(auth).toEqual([
      'GET /api/v1/auth/me',
      'GET /api/v1/auth/profile',
      'POST /api/v1/auth/admin/claim',
      'POST /api/v1/auth/login',
      'POST /api/v1/auth/logout',
      'POST /api/v1/auth/password',
      'POST /api/v1/auth/register',
    ]);
    // The admin claim is for a signed-in account; the token it needs is checked by the auth service.
    expect(routes.find((r) => routeKey(r) === 'POST /api/v1/auth/admin/claim')?.auth).toBe('user');
    expect(routes.find((r) => routeKey(r) === 'POST /api/v1/auth/login')?.auth).toBe('none');
    expect(routes.find((r) => routeKey(r) === 'GET /api/v1/auth/me')?.auth).toBe('user');
    expect(routes.find((r) => routeKey(r) === 'GET /api/v1/auth/profile')?.auth).toBe('user');
  });

  it('formats route keys the way API Gateway does', () => {
    expect(routeKey({ method: 'GET', path: '/api/v1/files/{id}' })).toBe('GET /api/v1/files/{id}');
  });
});

describe('matchRoute', () => {
  it('matches a static path', () => {
    const m = matchRoute('POST', '/api/v1/auth/login');
    expect(m?.route.path).toBe('/api/v1/auth/login');
    expect(m?.pathParameters).toEqual({});
  });

  it('extracts path parameters', () => {
    const m = matchRoute('PUT', '/api/v1/uploads/u-1/chunks/abc123');
    expect(m?.route.path).toBe('/api/v1/uploads/{id}/chunks/{hash}');
    expect(m?.pathParameters).toEqual({ id: 'u-1', hash: 'abc123' });
  });

  it('decodes percent-encoded parameters', () => {
    expect(matchRoute('GET', '/api/v1/files/a%20b')?.pathParameters).toEqual({ id: 'a b' });
  });

  it('does not match an empty parameter segment', () => {
    expect(matchRoute('GET', '/api/v1/files//download')).toBeUndefined();
  });

  it('does not match another method', () => {
    expect(matchRoute('GET', '/api/v1/auth/login')).toBeUndefined();
  });

  it('does not match a longer or shorter path', () => {
    expect(matchRoute('GET', '/api/v1/auth/me/extra')).toBeUndefined();
    expect(matchRoute('GET', '/api/v1/auth')).toBeUndefined();
  });

  it('prefers the literal route for the static path, the parameter route for the rest', () => {
    expect(matchRoute('GET', '/api/v1/files')?.route.path).toBe('/api/v1/files');
    expect(matchRoute('GET', '/api/v1/files/abc')?.route.path).toBe('/api/v1/files/{id}');
  });

  it('tells a path known under another method (405) from an unknown path (404)', () => {
    expect(pathExists('/api/v1/auth/login')).toBe(true);
    expect(pathExists('/api/v1/nope')).toBe(false);
  });
});
