/**
 * What API Gateway hands a function, for tests that call a handler directly: an HTTP API v2 event
 * and a Lambda context with the fields the handlers read.
 *
 *   const r = await handler(apiEvent('POST', '/api/v1/auth/login', { body: { email, password } }), lambdaContext('auth'));
 *   const me = await handler(apiEvent('GET', '/api/v1/auth/me', { token }), lambdaContext('auth'));
 */
import type { Context } from 'aws-lambda';
import type { ApiEvent } from '#functions/_lib/api.js';

export interface ApiEventOptions {
  /** The request body: an object is sent as JSON, a string as given. */
  body?: string | object;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** More headers (content-type is application/json unless given here). */
  headers?: Record<string, string>;
}

const requestId = () => `req-${Math.random().toString(36).slice(2)}`;

export function apiEvent(method: string, path: string, opts: ApiEventOptions = {}): ApiEvent {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(opts.headers ?? {}) };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'vitest' },
      requestId: requestId(),
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: new Date().toISOString(),
      timeEpoch: Date.now(),
    },
    body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
    isBase64Encoded: false,
  };
}

/** A Lambda context: only the fields the handlers read (request id, remaining time, function name). */
export function lambdaContext(functionName: string): Context {
  return { awsRequestId: requestId(), getRemainingTimeInMillis: () => 30_000, functionName } as unknown as Context;
}
