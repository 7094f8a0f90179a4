/**
 * One S3 endpoint for every region, as clients see AWS: each request goes to the replica of the
 * region its SigV4 signature names (Authorization header, or X-Amz-Credential of a presigned URL),
 * that is to the region's fault proxy and s3rver behind it. Functions then reach S3 through the
 * SDK's standard AWS_ENDPOINT_URL_S3 and the same client code as in the cloud.
 */
import { request, type IncomingMessage, type ServerResponse } from 'node:http';
import { credentialScope, listen, type Listening } from './http.js';

export interface S3RegionRouterOptions {
  /** region -> http://host:port of that region's S3 emulator (or of its fault proxy). */
  upstreams: Record<string, string>;
}

export async function startS3RegionRouter(o: S3RegionRouterOptions): Promise<Listening> {
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const region = credentialScope(req)?.region;
    const upstream = region ? o.upstreams[region] : undefined;
    if (!upstream) {
      const text = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AuthorizationHeaderMalformed</Code><Message>No replica for region ${region ?? '(unsigned request)'}</Message></Error>`;
      res.writeHead(400, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    const target = new URL(upstream);
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.rawHeaders);
      upRes.pipe(res);
      upRes.on('error', () => res.destroy());
    });
    // A client that gives up (its own timeout) drops the upstream request too, and the reverse.
    up.on('error', () => res.destroy());
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.on('error', () => up.destroy());
    req.pipe(up);
  };
  return listen(handler);
}
