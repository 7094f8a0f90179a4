/**
 * How the write path asks the replicator for a drain soon: the ReplicationTrigger port, and its
 * cloud implementation, an asynchronous invoke of the replicator function (createLambdaTrigger).
 * Locally the replication runner (replication-runner.ts) is the trigger itself.
 */
import { logger } from '../observability.js';

function describeError(err: unknown): string {
  const msg = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return msg.length > 500 ? `${msg.slice(0, 497)}...` : msg;
}

/**
 * How the write path asks for a drain soon (after a write left a backlog). Never throws. A trigger
 * that sends a request (the Lambda invoke) returns a promise the write path awaits before its
 * response; an in-process one returns nothing.
 */
export interface ReplicationTrigger {
  kick(): void | Promise<void>;
  /** A region came back: retry its backlog now rather than after each row's backoff. */
  recovered?(regions: readonly string[]): Promise<void>;
}

/**
 * A trigger that invokes the replicator function asynchronously (InvocationType Event). kick()
 * resolves once Lambda has accepted the invoke (or the attempt failed, which is logged: it never
 * rejects), so the write path can await it before the response: Lambda freezes a container as soon
 * as the response is sent, and a request still in flight then is never sent. Kicks while an invoke
 * is in flight share it; a kick within `windowMs` of an accepted one is skipped (that drain is
 * running and keeps claiming until the backlog is empty; the schedule drains anyway).
 */
export function createLambdaTrigger(functionName: string, windowMs = 1000): ReplicationTrigger & { kick(): Promise<void> } {
  let client: import('@aws-sdk/client-lambda').LambdaClient | undefined;
  let acceptedAt = -Infinity;
  let inFlight: Promise<void> | undefined;
  const invoke = async () => {
    try {
      const { InvokeCommand, LambdaClient } = await import('@aws-sdk/client-lambda');
      client ??= new LambdaClient({});
      await client.send(new InvokeCommand({ FunctionName: functionName, InvocationType: 'Event', Payload: Buffer.from(JSON.stringify({ task: 'drain' })) }));
      acceptedAt = Date.now();
    } catch (err) {
      logger.warn('replicator invoke failed; the schedule will drain', { error: describeError(err) });
    } finally {
      inFlight = undefined;
    }
  };
  return {
    kick() {
      if (inFlight) return inFlight;
      if (Date.now() - acceptedAt < windowMs) return Promise.resolve();
      inFlight = invoke();
      return inFlight;
    },
  };
}
