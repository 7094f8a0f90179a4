/**
 * The CloudFront download behaviour in front of the streaming Function URL, as the web stack
 * configures it (infra/cloud/web-stack.ts): GET and HEAD only, the viewer-request function
 * (DOWNLOAD_TOKEN_CODE, run here as written) that moves a viewer's bearer token into the token
 * header, only the origin request policy's headers forwarded, and origin access control's SigV4
 * signature in Authorization, so a viewer's own Authorization never reaches the function.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import vm from 'node:vm';
import { DOWNLOAD_FORWARDED_HEADERS, DOWNLOAD_TOKEN_CODE } from '../../infra/cloud/web-stack.js';
import { ACCOUNT_ID } from './deployment.js';

type CfHeaders = Record<string, { value: string }>;
type ViewerRequestFunction = (event: { version: string; context: { eventType: string }; request: { method: string; uri: string; headers: CfHeaders } }) => { headers: CfHeaders };

const viewerRequest = vm.runInNewContext(`${DOWNLOAD_TOKEN_CODE}\nhandler;`, {}) as ViewerRequestFunction;

/** Methods the download behaviour allows (ALLOW_GET_HEAD). */
export const DOWNLOAD_METHODS = ['GET', 'HEAD'];

/** The headers CloudFront sends to the Function URL for a viewer's download request. */
export function originRequestHeaders(method: string, path: string, viewer: IncomingHttpHeaders, region: string, host: string): Record<string, string> {
  const headers: CfHeaders = {};
  for (const [k, v] of Object.entries(viewer)) if (v !== undefined) headers[k.toLowerCase()] = { value: Array.isArray(v) ? v.join(',') : v };
  const after = viewerRequest({ version: '1.0', context: { eventType: 'viewer-request' }, request: { method, uri: path, headers } }).headers;
  const out: Record<string, string> = {};
  for (const name of DOWNLOAD_FORWARDED_HEADERS) {
    const v = after[name]?.value;
    if (v !== undefined) out[name] = v;
  }
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  Object.assign(out, {
    host,
    'user-agent': 'Amazon CloudFront',
    via: '1.1 harness.cloudfront.net (CloudFront)',
    'x-amz-cf-id': randomUUID(),
    'x-forwarded-for': '127.0.0.1',
    'x-amz-date': amzDate,
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    // Origin access control signs as the CloudFront service (the signature itself is not checked here).
    authorization: `AWS4-HMAC-SHA256 Credential=ASIAHARNESSCLOUDFRONT/${amzDate.slice(0, 8)}/${region}/lambda/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${'0'.repeat(64)}`,
  });
  return out;
}

/** requestContext.authorizer of a Function URL event with AuthType AWS_IAM, for CloudFront's signed request. */
export const CLOUDFRONT_IAM_AUTHORIZER = {
  iam: { accessKey: 'ASIAHARNESSCLOUDFRONT', accountId: ACCOUNT_ID, callerId: 'AROAHARNESS:cloudfront', cognitoIdentity: null, principalOrgId: null, userArn: `arn:aws:sts::${ACCOUNT_ID}:assumed-role/cloudfront/harness`, userId: 'AROAHARNESS:cloudfront' },
};
