/**
 * The auth function: register, login, profile (and its alias me), change password. Thin: validate
 * the body, call the AuthService, shape the response (the published API's shapes).
 */
import type { Context } from 'aws-lambda';
import { Unavailable } from '#shared/errors.js';
import { createApiHandler, errorResult, inputOf, json, type ApiEvent, type ApiResult, type AuthUser } from '#shared/http.js';
import { profileBody, sessionBody } from '#shared/responses.js';
import { logger } from '#shared/observability.js';
import { coldStart, type Services } from '#shared/runtime.js';

export function createHandler(services: Pick<Services, 'auth' | 'authenticator'>) {
  const { auth, authenticator } = services;
  return createApiHandler(
    'auth',
    {
      'POST /api/v1/auth/register': async (req) => {
        const session = await auth.register(inputOf(req, 'POST /api/v1/auth/register').body);
        return json(201, sessionBody(session));
      },
      'POST /api/v1/auth/login': async (req) => {
        const session = await auth.login(inputOf(req, 'POST /api/v1/auth/login').body);
        return json(200, sessionBody(session));
      },
      // The authenticator already loaded the current user for this token.
      'GET /api/v1/auth/profile': async (req) => json(200, profileBody(currentUser(req.user))),
      'GET /api/v1/auth/me': async (req) => json(200, profileBody(currentUser(req.user))),
      'POST /api/v1/auth/password': async (req) => {
        const session = await auth.changePassword(currentUser(req.user).id, inputOf(req, 'POST /api/v1/auth/password').body);
        return json(200, sessionBody(session, 'Password changed: tokens issued before now no longer work.'));
      },
    },
    { authenticator },
  );
}

function currentUser(user: AuthUser | undefined): AuthUser {
  if (!user) throw new Error('auth route reached without an authenticated user');
  return user;
}

// Lambda entry point: services are built once per cold start, on the first request.
const started = coldStart(createHandler);

export async function handler(event: ApiEvent, context: Context): Promise<ApiResult> {
  let inner: ReturnType<typeof createHandler>;
  try {
    inner = await started();
  } catch (err) {
    logger.error('auth function failed to start', { error: err as Error });
    return errorResult(new Unavailable('The service is starting or its catalog is unreachable; retry shortly.', 5));
  }
  return inner(event, context);
}
