/**
 * The auth function: register, login, profile (and its alias me), change password, sign-out, the
 * admin claim (README, "Administrators"). Thin: validate
 * the body, call the AuthService, shape the response (the published API's shapes).
 */
import { inputOf, json, type ApiRequest, type AuthUser } from '#shared/http.js';
import { createApiHandler } from '#functions/_lib/api.js';
import { apiEntry } from '#functions/_lib/cold-start.js';
import { profileBody, sessionBody } from '#shared/responses.js';
import type { Services } from '#shared/runtime.js';

export function createHandler(services: Pick<Services, 'auth' | 'authenticator'>) {
  const { auth, authenticator } = services;
  return createApiHandler(
    'auth',
    {
      'POST /api/v1/auth/register': async (req) => {
        const input = inputOf(req, 'POST /api/v1/auth/register');
        const session = await auth.register(input.body, { adminToken: input.headers['x-echofs-admin-token'] });
        return json(201, sessionBody(session));
      },
      'POST /api/v1/auth/login': async (req) => {
        const session = await auth.login(inputOf(req, 'POST /api/v1/auth/login').body, { clientAddress: clientAddress(req) });
        return json(200, sessionBody(session));
      },
      // The authenticator already loaded the current user for this token.
      'GET /api/v1/auth/profile': async (req) => json(200, profileBody(currentUser(req.user))),
      'GET /api/v1/auth/me': async (req) => json(200, profileBody(currentUser(req.user))),
      'POST /api/v1/auth/password': async (req) => {
        const session = await auth.changePassword(currentUser(req.user).id, inputOf(req, 'POST /api/v1/auth/password').body);
        return json(200, sessionBody(session, 'Password changed: tokens issued before now no longer work.'));
      },
      'POST /api/v1/auth/logout': async (req) => {
        await auth.logout(currentUser(req.user).id);
        return json(200, { success: true, message: 'Signed out: every token issued to this account before now no longer works.' });
      },
      // The admin role for a listed address, on presenting the admin bootstrap token.
      'POST /api/v1/auth/admin/claim': async (req) => {
        const input = inputOf(req, 'POST /api/v1/auth/admin/claim');
        const session = await auth.claimAdmin(currentUser(req.user).id, { adminToken: input.headers['x-echofs-admin-token'] });
        return json(200, sessionBody(session, 'This account is an administrator.'));
      },
    },
    { authenticator },
  );
}

/**
 * The caller's address: CloudFront's viewer address when the request came through it (the
 * connection's source is then CloudFront's edge), else the connection's source.
 */
function clientAddress(req: ApiRequest): string | undefined {
  const viewer = req.headers['cloudfront-viewer-address'];
  if (viewer) return viewer.replace(/:\d+$/, '').slice(0, 64);
  return req.event.requestContext?.http?.sourceIp;
}

function currentUser(user: AuthUser | undefined): AuthUser {
  if (!user) throw new Error('auth route reached without an authenticated user');
  return user;
}

// Lambda entry point: services are built once per cold start, on the first request.
export const handler = apiEntry('auth', createHandler);
