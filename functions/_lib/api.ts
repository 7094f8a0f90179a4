/**
 * The Lambda binding of the API functions: API Gateway HTTP API v2 events and the Lambda context
 * in, through a middy pipeline, to the transport-neutral handler of shared/http.ts. The only place
 * (with cold-start.ts) where API code meets Lambda types.
 *
 * Two guarantees are added here for every function, from the route table rather than per handler:
 * - Idempotency-Key: the handlers of routes flagged `idempotent` are wrapped with
 *   `withIdempotency` (shared/idempotency.ts) when the function is given a store;
 * - a time budget: each request runs under a deadline (shared/deadline.ts) of the invocation's
 *   remaining time less a margin for the answer; past it, a request that has not reached its commit
 *   point answers 504 `request_timeout` (with Retry-After) and can no longer commit.
 */
import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { RequestTimeout, runWithDeadline } from '#shared/deadline.js';
import { createHttpHandler, errorResult, type ApiHandlerOptions, type ApiResult, type RouteHandler } from '#shared/http.js';
import { withIdempotency, type IdempotencyStore } from '#shared/idempotency.js';
import { logger } from '#shared/observability.js';
import { routeKey, routes, type FunctionName } from '#shared/routes.js';

export type ApiEvent = APIGatewayProxyEventV2;
export type { Context };

export interface ApiBindingOptions extends ApiHandlerOptions {
  /** Where Idempotency-Key records live (the catalog); without one the header is ignored. */
  idempotency?: IdempotencyStore;
  /** Kept back from the invocation's remaining time to send the answer (default: 1 s, at most a tenth of the time). */
  deadlineMarginMs?: number;
}

/** The time a request may use: the invocation's remaining time less the margin; undefined without a context. */
export function requestBudgetMs(context: Pick<Context, 'getRemainingTimeInMillis'> | undefined, marginMs?: number): number | undefined {
  const remaining = context?.getRemainingTimeInMillis?.();
  if (remaining === undefined || !Number.isFinite(remaining)) return undefined;
  return Math.max(0, remaining - (marginMs ?? Math.min(1000, remaining / 10)));
}

/**
 * Build the Lambda handler of one API function from its route handlers, keyed by route key
 * ("POST /api/v1/auth/login"). Auth requirements come from the route table; the invocation's
 * request id is the event's, else the Lambda context's.
 */
export function createApiHandler(fn: FunctionName, handlers: Record<string, RouteHandler>, options: ApiBindingOptions = {}) {
  const store = options.idempotency;
  const wrapped: Record<string, RouteHandler> = {};
  for (const [key, h] of Object.entries(handlers)) {
    const route = routes.find((r) => r.fn === fn && routeKey(r) === key);
    wrapped[key] = route?.idempotent && store ? withIdempotency(store, h) : h;
  }
  const handle = createHttpHandler(fn, wrapped, options);
  return middy<ApiEvent, ApiResult, Error, Context>().handler((event, context) => {
    const invocation = { requestId: context?.awsRequestId };
    const budget = requestBudgetMs(context, options.deadlineMarginMs);
    if (budget === undefined) return handle(event, invocation);
    return runWithDeadline(
      budget,
      () => handle(event, invocation),
      () => {
        const requestId = event.requestContext?.requestId ?? context.awsRequestId;
        logger.warn('request timed out before its commit point', { requestId, routeKey: event.routeKey, budgetMs: budget });
        return errorResult(new RequestTimeout(), requestId);
      },
    );
  });
}

export type ApiHandler = ReturnType<typeof createApiHandler>;
