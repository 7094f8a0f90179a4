/**
 * The Lambda binding of the API functions: API Gateway HTTP API v2 events and the Lambda context
 * in, through a middy pipeline, to the transport-neutral handler of shared/http.ts. The only place
 * (with cold-start.ts) where API code meets Lambda types.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { createHttpHandler, type ApiHandlerOptions, type ApiResult, type RouteHandler } from '#shared/http.js';
import type { FunctionName } from '#shared/routes.js';

export type ApiEvent = APIGatewayProxyEventV2;
export type { Context };

/**
 * Build the Lambda handler of one API function from its route handlers, keyed by route key
 * ("POST /api/v1/auth/login"). Auth requirements come from the route table; the invocation's
 * request id is the event's, else the Lambda context's.
 */
export function createApiHandler(fn: FunctionName, handlers: Record<string, RouteHandler>, options: ApiHandlerOptions = {}) {
  const handle = createHttpHandler(fn, handlers, options);
  return middy<ApiEvent, ApiResult, Error, Context>().handler((event, context) => handle(event, { requestId: context?.awsRequestId }));
}

export type ApiHandler = ReturnType<typeof createApiHandler>;
