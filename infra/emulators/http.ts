/**
 * What the AWS protocol emulators share: an HTTP server on a free 127.0.0.1 port, the request
 * body, and AWS's JSON error shape (the `x-amzn-ErrorType` header the SDK reads the error name from).
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  server: Server;
  port: number;
  /** http://127.0.0.1:<port> */
  endpoint: string;
  close(): Promise<void>;
}

export async function listen(handler: RequestListener, port = 0): Promise<Listening> {
  const server = createServer(handler);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const actual = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    server,
    port: actual,
    endpoint: `http://127.0.0.1:${actual}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

/** An error the SDK turns into an exception named `type` (statusCode 4xx/5xx). */
export class AwsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly statusCode = 400,
  ) {
    super(message);
    this.name = type;
  }
}

export function sendJson(res: ServerResponse, statusCode: number, body: unknown, contentType = 'application/json'): void {
  const text = JSON.stringify(body);
  res.writeHead(statusCode, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'x-amzn-RequestId': crypto.randomUUID() });
  res.end(text);
}

export function sendError(res: ServerResponse, err: unknown, contentType = 'application/json'): void {
  const e = err instanceof AwsError ? err : new AwsError('InternalServerErrorException', err instanceof Error ? err.message : String(err), 500);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify({ __type: e.type, message: e.message });
  res.writeHead(e.statusCode, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'x-amzn-ErrorType': e.type });
  res.end(text);
}

/** The region and service of a SigV4-signed request (Authorization header or presigned query). */
export function credentialScope(req: IncomingMessage): { region: string; service: string } | undefined {
  const auth = req.headers.authorization ?? '';
  let m = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(auth);
  if (!m) {
    const q = new URL(req.url ?? '/', 'http://x').searchParams.get('X-Amz-Credential') ?? '';
    m = /^[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request$/.exec(q);
  }
  return m ? { region: m[1] as string, service: m[2] as string } : undefined;
}
