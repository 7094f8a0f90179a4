/**
 * The security headers of every response, one definition for both places: CloudFront's response
 * headers policy (infra/cloud/web-stack.ts) and the local server (infra/local/adapter.ts).
 */

/** Content Security Policy of the web app; `connectSources` are where it may fetch chunks from besides 'self'. */
export function contentSecurityPolicy(connectSources: readonly string[]): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    `connect-src 'self'${connectSources.length > 0 ? ` ${connectSources.join(' ')}` : ''}`,
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The S3 endpoints of the replica regions (presigned chunk URLs), for connect-src in the cloud. */
export function s3ConnectSources(regions: readonly string[]): string[] {
  return ['https://*.s3.amazonaws.com', ...regions.flatMap((r) => [`https://s3.${r}.amazonaws.com`, `https://*.s3.${r}.amazonaws.com`])];
}

/** The headers CloudFront's policy sets, as plain headers (HSTS aside: it means nothing over plain HTTP). */
export function securityHeaders(csp: string): Record<string, string> {
  return {
    'Content-Security-Policy': csp,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'strict-origin-when-cross-origin',
    'X-XSS-Protection': '1; mode=block',
  };
}

/** Locally the replicas' presigned URLs point at fault proxies on this machine. */
export const LOCAL_SECURITY_HEADERS = securityHeaders(contentSecurityPolicy(['http://127.0.0.1:*', 'http://localhost:*']));
