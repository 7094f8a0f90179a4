/**
 * An emulator of Lambda's Invoke API (POST /2015-03-31/functions/{name}/invocations): the
 * invocation type Event answers 202 once the invocation is queued (and runs it afterwards, as
 * Lambda's async queue does); RequestResponse answers with the function's result.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsError, listen, readBody, sendError, type Listening } from './http.js';

export interface InvokeResult {
  /** The function's response payload (JSON text), or its error. */
  payload: string;
  error?: 'Unhandled' | 'Handled';
}

export interface LambdaInvokeOptions {
  /** The function a name, partial ARN or ARN designates, or undefined (404). */
  resolve(nameOrArn: string): string | undefined;
  invoke(fn: string, payload: string, type: 'Event' | 'RequestResponse'): Promise<InvokeResult>;
  /**
   * The service's latency before an Event invocation is accepted (ms, default 0): a caller that
   * does not wait for the 202 then visibly has not been answered when it moves on.
   */
  acceptDelayMs?: number;
}

export interface AcceptedInvoke {
  fn: string;
  type: 'Event' | 'RequestResponse';
  payload: string;
  /** When the request had arrived whole (ms since the epoch). */
  at: number;
  /** When the caller was answered (202 for Event; the function's result for RequestResponse). */
  answeredAt?: number;
  /** The caller's X-Amzn-Trace-Id (in Lambda, the SDK sends the invocation's _X_AMZN_TRACE_ID). */
  traceId?: string;
}

export interface LambdaInvokeEmulator extends Listening {
  /** Every accepted invocation, in order. */
  accepted: AcceptedInvoke[];
  /** Resolves when every Event invocation accepted so far has run. */
  settled(): Promise<void>;
}

export async function startLambdaInvoke(o: LambdaInvokeOptions): Promise<LambdaInvokeEmulator> {
  const accepted: AcceptedInvoke[] = [];
  const queued = new Set<Promise<unknown>>();
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const m = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
      if (req.method !== 'POST' || !m) throw new AwsError('UnknownOperationException', `The emulator serves Invoke only (got ${req.method} ${req.url})`, 404);
      const name = decodeURIComponent(m[1] as string);
      const fn = o.resolve(name);
      if (!fn) throw new AwsError('ResourceNotFoundException', `Function not found: ${name}`, 404);
      const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
      if (type !== 'Event' && type !== 'RequestResponse') throw new AwsError('InvalidParameterValueException', `Unsupported invocation type ${type}`);
      const payload = (await readBody(req)).toString('utf8');
      if (type === 'Event' && Buffer.byteLength(payload) > 256 * 1024) throw new AwsError('RequestTooLargeException', 'Async payloads are limited to 256 KB', 413);
      const trace = req.headers['x-amzn-trace-id'];
      const record: AcceptedInvoke = { fn, type, payload, at: Date.now(), ...(typeof trace === 'string' ? { traceId: trace } : {}) };
      accepted.push(record);
      if (type === 'Event') {
        if (o.acceptDelayMs) await new Promise((r) => setTimeout(r, o.acceptDelayMs));
        res.writeHead(202, { 'Content-Length': 0, 'x-amzn-RequestId': crypto.randomUUID() });
        res.end();
        record.answeredAt = Date.now();
        const p = o.invoke(fn, payload, 'Event').catch(() => undefined);
        queued.add(p);
        void p.finally(() => queued.delete(p));
        return;
      }
      const r = await o.invoke(fn, payload, 'RequestResponse');
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-Amz-Executed-Version': '$LATEST', ...(r.error ? { 'X-Amz-Function-Error': r.error } : {}) });
      res.end(r.payload);
      record.answeredAt = Date.now();
    } catch (err) {
      sendError(res, err);
    }
  };
  const listening = await listen((req, res) => void handler(req, res));
  return {
    ...listening,
    accepted,
    async settled() {
      while (queued.size > 0) await Promise.all([...queued]);
    },
  };
}
