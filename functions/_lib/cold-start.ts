/**
 * The one cold-start wrapper of the API functions: services are built once per container, on the
 * first request; while they cannot be built (the catalog is resuming or unreachable) every
 * request answers 503 `starting` with Retry-After and its request id, and the next one retries.
 */
import type { Context } from 'aws-lambda';
import { Unavailable } from '#shared/errors.js';
import { errorResult, type ApiResult } from '#shared/http.js';
import type { ApiEvent } from './api.js';
import { logger } from '#shared/observability.js';
import { coldStart, type Services } from '#shared/runtime.js';

export type LambdaApiHandler = (event: ApiEvent, context: Context) => Promise<ApiResult>;

export interface ColdStarted<H> {
  /** The built handler (builds the services on first call; a failed build is retried next call). */
  ready: () => Promise<H>;
  /** Run `use` with the built handler, or answer 503 `starting` when it cannot be built. */
  run(event: ApiEvent, context: Context, use: (h: H) => Promise<ApiResult>): Promise<ApiResult>;
}

export function coldStarted<H>(name: string, make: (services: Services) => H, build?: () => Promise<Services>): ColdStarted<H> {
  const ready = coldStart(make, build);
  return {
    ready,
    async run(event, context, use) {
      let h: H;
      try {
        h = await ready();
      } catch (err) {
        const requestId = event.requestContext?.requestId ?? context.awsRequestId;
        logger.error('function failed to start', { function: name, requestId, error: err as Error });
        return errorResult(new Unavailable('The service is starting or its catalog is unreachable; retry shortly.', 5, 'starting'), requestId);
      }
      return use(h);
    },
  };
}

/** The Lambda entry point of an API function: cold start once, 503 while it cannot. */
export function apiEntry(name: string, make: (services: Services) => LambdaApiHandler): LambdaApiHandler {
  const started = coldStarted(name, make);
  return (event, context) => started.run(event, context, (h) => h(event, context));
}
