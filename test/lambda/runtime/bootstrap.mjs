/**
 * The runtime of one Lambda-shaped container: a small stand-in for Lambda's Node.js runtime
 * interface client. It sets the `awslambda` globals (streamifyResponse, HttpResponseStream) before
 * loading the handler module from LAMBDA_TASK_ROOT, as the real runtime does, then loops over the
 * Runtime API (AWS_LAMBDA_RUNTIME_API): GET the next invocation, call the handler with the event
 * and a Lambda context, POST the response (buffered JSON, or streamed with the
 * `Lambda-Runtime-Function-Response-Mode: streaming` header) or the error.
 *
 * Plain JavaScript with Node built-ins only: it runs in a folder without node_modules.
 */
import http from 'node:http';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const API = process.env.AWS_LAMBDA_RUNTIME_API;
const [apiHost, apiPort] = (API ?? '').split(':');
const BASE = '/2018-06-01/runtime';
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const STREAM_RESPONSE = 'response';
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function call(method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: apiHost, port: Number(apiPort), method, path: BASE + path, headers, agent }, (res) => {
      const parts = [];
      res.on('data', (c) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function errorBody(err) {
  const e = err instanceof Error ? err : new Error(String(err));
  return JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: String(e.stack ?? '').split('\n') });
}

// ---- the `awslambda` globals, as the Node.js runtime defines them
const METADATA_PRELUDE_CONTENT_TYPE = 'application/vnd.awslambda.http-integration-response';
class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType(METADATA_PRELUDE_CONTENT_TYPE);
    const metadataPrelude = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(8));
    };
    return underlyingStream;
  }
}
globalThis.awslambda = {
  streamifyResponse(handler, options) {
    handler[HANDLER_STREAMING] = STREAM_RESPONSE;
    void options;
    return handler;
  },
  HttpResponseStream,
};

/** The response stream a streaming handler writes to: a chunked POST to the Runtime API. */
function responseStream(requestId) {
  let contentType = 'application/octet-stream';
  let started = false;
  let req;
  let settle;
  const done = new Promise((resolve, reject) => (settle = { resolve, reject }));
  const start = () => {
    started = true;
    req = http.request(
      {
        host: apiHost,
        port: Number(apiPort),
        method: 'POST',
        path: `${BASE}/invocation/${requestId}/response`,
        agent,
        headers: {
          'Content-Type': contentType,
          'Lambda-Runtime-Function-Response-Mode': 'streaming',
          'Transfer-Encoding': 'chunked',
          Trailer: 'Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body',
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => settle.resolve());
      },
    );
    req.on('error', (e) => settle.reject(e));
    const origWrite = req.write.bind(req);
    let first = true;
    req.write = (chunk, encoding, cb) => {
      if (first && typeof stream._onBeforeFirstWrite === 'function') stream._onBeforeFirstWrite((c) => origWrite(c));
      first = false;
      if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) chunk = JSON.stringify(chunk);
      return origWrite(chunk, encoding, cb);
    };
    return req;
  };
  const stream = {
    setContentType(t) {
      if (started) throw new Error('setContentType must be called before the first write');
      contentType = t;
    },
    write(chunk, encoding, cb) {
      return (req ?? start()).write(chunk, encoding, cb);
    },
    end(chunk, encoding, cb) {
      const r = req ?? start();
      if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') r.write(chunk, encoding);
      r.end(typeof chunk === 'function' ? chunk : cb);
      return stream;
    },
    fail(err) {
      const r = req ?? start();
      r.addTrailers({ 'Lambda-Runtime-Function-Error-Type': err?.name ?? 'Error', 'Lambda-Runtime-Function-Error-Body': Buffer.from(errorBody(err)).toString('base64') });
      r.end();
    },
    get writableEnded() {
      return req?.writableEnded ?? false;
    },
    done,
  };
  return stream;
}

/** A Writable facade over the stream (pipeline() needs the stream API). */
async function asWritable(stream) {
  const { Writable } = await import('node:stream');
  const w = new Writable({
    write(chunk, encoding, cb) {
      stream.write(chunk, encoding);
      cb();
    },
    final(cb) {
      stream.end();
      cb();
    },
  });
  w.setContentType = (t) => stream.setContentType(t);
  Object.defineProperty(w, '_onBeforeFirstWrite', { set(f) { stream._onBeforeFirstWrite = f; }, get: () => stream._onBeforeFirstWrite });
  return w;
}

async function loadHandler() {
  const [file, name] = (() => {
    const h = process.env._HANDLER ?? 'index.handler';
    const i = h.lastIndexOf('.');
    return [h.slice(0, i), h.slice(i + 1)];
  })();
  const root = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
  const path = ['.mjs', '.js', '.cjs'].map((ext) => join(root, file + ext)).find((p) => existsSync(p));
  if (!path) throw Object.assign(new Error(`Cannot find module '${file}'`), { name: 'Runtime.ImportModuleError' });
  const mod = await import(pathToFileURL(path).href);
  const fn = mod[name];
  if (typeof fn !== 'function') throw Object.assign(new Error(`${file}.${name} is not a function`), { name: 'Runtime.HandlerNotFound' });
  return fn;
}

function contextFor(headers) {
  const deadline = Number(headers['lambda-runtime-deadline-ms']);
  return {
    callbackWaitsForEmptyEventLoop: true,
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
}

async function main() {
  let handler;
  try {
    handler = await loadHandler();
  } catch (err) {
    await call('POST', '/init/error', errorBody(err), { 'Lambda-Runtime-Function-Error-Type': err?.name ?? 'Runtime.Unknown' });
    process.exit(1);
  }
  const streaming = handler[HANDLER_STREAMING] === STREAM_RESPONSE;
  for (;;) {
    const next = await call('GET', '/invocation/next');
    const id = next.headers['lambda-runtime-aws-request-id'];
    process.env._X_AMZN_TRACE_ID = next.headers['lambda-runtime-trace-id'] ?? '';
    const context = contextFor(next.headers);
    const event = JSON.parse(next.body.toString('utf8'));
    if (streaming) {
      const stream = responseStream(id);
      try {
        await handler(event, await asWritable(stream), context);
        if (!stream.writableEnded) stream.end();
      } catch (err) {
        stream.fail(err);
      }
      await stream.done.catch(() => undefined);
      continue;
    }
    try {
      const result = await handler(event, context);
      await call('POST', `/invocation/${id}/response`, JSON.stringify(result === undefined ? null : result), { 'Content-Type': 'application/json' });
    } catch (err) {
      await call('POST', `/invocation/${id}/error`, errorBody(err), { 'Lambda-Runtime-Function-Error-Type': err?.name ?? 'Error', 'Content-Type': 'application/json' });
    }
  }
}

process.on('unhandledRejection', (err) => {
  process.stderr.write(`unhandled rejection: ${err?.stack ?? err}\n`);
  process.exit(128);
});
void main();
