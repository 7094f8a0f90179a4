/**
 * The one route table. The CDK API (infra/cloud) and the local HTTP adapter (infra/local) are both
 * generated from it, so a route exists in both places or in neither.
 */
import { BadRequest } from './errors.js';

export type FunctionName = 'auth' | 'files' | 'controller' | 'local';
export type AuthRequirement = 'none' | 'user' | 'admin';
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface Route {
  method: HttpMethod;
  /** API Gateway style path, parameters in braces: /api/v1/files/{id} */
  path: string;
  fn: FunctionName;
  auth: AuthRequirement;
  /** Only served by the local runtime (fault injection); never deployed. */
  localOnly?: boolean;
  /** The response may be larger than a Lambda response: streamed (Function URL in the cloud). */
  streaming?: boolean;
  /** Raw request body (chunk bytes, multipart) rather than JSON. */
  binaryBody?: boolean;
  /**
   * Also accepts, in place of the bearer token, a signed download link in the `link` query
   * parameter (POST /api/v1/files/{id}/download-link), good for the `{id}` and `version` it names.
   */
  linkAuth?: boolean;
  /** Accepts an Idempotency-Key header: a retry gets the first outcome (shared/idempotency.ts). */
  idempotent?: boolean;
}

export const routes: readonly Route[] = [
  // auth
  { method: 'POST', path: '/api/v1/auth/register', fn: 'auth', auth: 'none' },
  { method: 'POST', path: '/api/v1/auth/login', fn: 'auth', auth: 'none' },
  { method: 'GET', path: '/api/v1/auth/profile', fn: 'auth', auth: 'user' },
  { method: 'GET', path: '/api/v1/auth/me', fn: 'auth', auth: 'user' },
  { method: 'POST', path: '/api/v1/auth/password', fn: 'auth', auth: 'user' },
  { method: 'POST', path: '/api/v1/auth/logout', fn: 'auth', auth: 'user' },
  { method: 'POST', path: '/api/v1/auth/admin/claim', fn: 'auth', auth: 'user' },
  // system health (catalog, replicas, controller store)
  { method: 'GET', path: '/api/v1/health', fn: 'files', auth: 'none' },
  // the OpenAPI 3.1 document of this table (shared/wire/openapi.ts)
  { method: 'GET', path: '/api/v1/openapi.json', fn: 'files', auth: 'none' },
  // files
  { method: 'POST', path: '/api/v1/files/upload', fn: 'files', auth: 'user', binaryBody: true, idempotent: true },
  { method: 'GET', path: '/api/v1/files', fn: 'files', auth: 'user' },
  { method: 'GET', path: '/api/v1/files/{id}', fn: 'files', auth: 'user' },
  { method: 'DELETE', path: '/api/v1/files/{id}', fn: 'files', auth: 'user', idempotent: true },
  { method: 'GET', path: '/api/v1/files/{id}/download', fn: 'files', auth: 'user', streaming: true, linkAuth: true },
  { method: 'POST', path: '/api/v1/files/{id}/download-link', fn: 'files', auth: 'user' },
  { method: 'GET', path: '/api/v1/files/{id}/manifest', fn: 'files', auth: 'user' },
  { method: 'GET', path: '/api/v1/files/{id}/versions', fn: 'files', auth: 'user' },
  { method: 'POST', path: '/api/v1/files/{id}/restore', fn: 'files', auth: 'user' },
  { method: 'POST', path: '/api/v1/files/{id}/versions/{version}/restore', fn: 'files', auth: 'user' },
  { method: 'POST', path: '/api/v1/files/{id}/rename', fn: 'files', auth: 'user' },
  // chunk sessions
  { method: 'POST', path: '/api/v1/uploads', fn: 'files', auth: 'user', idempotent: true },
  { method: 'GET', path: '/api/v1/uploads/{id}', fn: 'files', auth: 'user' },
  { method: 'PUT', path: '/api/v1/uploads/{id}/chunks/{hash}', fn: 'files', auth: 'user', binaryBody: true },
  { method: 'POST', path: '/api/v1/uploads/{id}/commit', fn: 'files', auth: 'user', idempotent: true },
  { method: 'DELETE', path: '/api/v1/uploads/{id}', fn: 'files', auth: 'user', idempotent: true },
  // consistency controller (original API paths)
  { method: 'GET', path: '/v1/mode', fn: 'controller', auth: 'user' },
  { method: 'POST', path: '/v1/hint', fn: 'controller', auth: 'user' },
  { method: 'POST', path: '/v1/override', fn: 'controller', auth: 'admin' },
  { method: 'DELETE', path: '/v1/override', fn: 'controller', auth: 'admin' },
  { method: 'GET', path: '/v1/critical-keys', fn: 'controller', auth: 'admin' },
  { method: 'POST', path: '/v1/critical-keys', fn: 'controller', auth: 'admin' },
  { method: 'DELETE', path: '/v1/critical-keys', fn: 'controller', auth: 'admin' },
  { method: 'GET', path: '/v1/health', fn: 'controller', auth: 'none' },
  { method: 'GET', path: '/v1/status', fn: 'controller', auth: 'user' },
  { method: 'GET', path: '/v1/audit', fn: 'controller', auth: 'admin' },
  { method: 'GET', path: '/v1/history', fn: 'controller', auth: 'admin' },
  // the controller's health and status at their published paths (same answers as /v1/health, /v1/status)
  { method: 'GET', path: '/health', fn: 'controller', auth: 'none' },
  { method: 'GET', path: '/status', fn: 'controller', auth: 'user' },
  // local fault injection (never deployed)
  { method: 'GET', path: '/api/v1/local/faults', fn: 'local', auth: 'admin', localOnly: true },
  { method: 'POST', path: '/api/v1/local/faults', fn: 'local', auth: 'admin', localOnly: true },
];

/** "GET /api/v1/files/{id}": the form API Gateway puts in event.routeKey. */
export function routeKey(r: Pick<Route, 'method' | 'path'>): string {
  return `${r.method} ${r.path}`;
}

export interface RouteMatch {
  route: Route;
  pathParameters: Record<string, string>;
}

/** A path segment, percent-decoded; a bad escape (`%ZZ`) is the client's error: 400 naming the parameter. */
function decodeSegment(name: string, raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new BadRequest(`Path parameter '${name}' is not valid percent-encoding.`, 'invalid_path', { field: name });
  }
}

/**
 * Match a concrete method and path against the table (used by the local adapter).
 * Throws BadRequest `invalid_path` when a parameter's percent-encoding is malformed.
 */
export function matchRoute(method: string, path: string, table: readonly Route[] = routes): RouteMatch | undefined {
  const parts = path.split('/');
  for (const route of table) {
    if (route.method !== method) continue;
    const pattern = route.path.split('/');
    if (pattern.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length; i++) {
      const p = pattern[i] as string;
      const v = parts[i] as string;
      if (p.startsWith('{') && p.endsWith('}')) {
        if (v === '') { ok = false; break; }
        params[p.slice(1, -1)] = decodeSegment(p.slice(1, -1), v);
      } else if (p !== v) { ok = false; break; }
    }
    if (ok) return { route, pathParameters: params };
  }
  return undefined;
}

/** True when some route has this path under another method (for 405 vs 404). */
export function pathExists(path: string, table: readonly Route[] = routes): boolean {
  return ['GET', 'POST', 'PUT', 'DELETE'].some((m) => matchRoute(m, path, table) !== undefined);
}
