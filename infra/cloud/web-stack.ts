/**
 * The web app: the built single-page app in a private bucket behind CloudFront (origin access
 * control), with /api/* and /v1/* forwarded to the HTTP API, streamed downloads forwarded to the
 * download Function URL (AWS_IAM: CloudFront signs every request through origin access control,
 * and the user's token travels in X-EchoFS-Authorization), an SPA fallback for client-side routes,
 * and security headers.
 */
import { contentSecurityPolicy as sharedCsp, s3ConnectSources } from '#shared/security-headers.js';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import * as origins from 'aws-cdk-lib/aws-cloudfront-origins';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3deploy from 'aws-cdk-lib/aws-s3-deployment';
import type { Construct } from 'constructs';
import { DOWNLOAD_TOKEN_HEADER } from '#shared/downloads.js';
import { apiHost } from './core-stack.js';
import { REPO_ROOT } from './echo-function.js';
import type { EchoSettings } from './settings.js';

export interface WebStackProps extends StackProps {
  settings: EchoSettings;
  api: apigwv2.IHttpApi;
  downloadUrl: lambda.IFunctionUrl;
  /** Built web app (default web/dist); when it has no index.html nothing is uploaded. */
  webDist?: string;
}

/** Client-side routes (no file extension in the last segment) are served by /index.html. */
export const SPA_FALLBACK_CODE = `function handler(event) {
  var request = event.request;
  var uri = request.uri;
  var last = uri.substring(uri.lastIndexOf('/') + 1);
  if (last === '' || last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}`;

/** The download path pattern served by the streaming Function URL (route marked `streaming`). */
export const DOWNLOAD_PATH_PATTERN = '/api/v1/files/*/download';

/**
 * Viewer-request function of the download behaviour. Origin access control signs the request to
 * the Function URL with SigV4 in the Authorization header, so a client's `Authorization: Bearer …`
 * (the published API) cannot reach the function: it is copied into the token header, which the
 * origin request policy forwards and the stream handler reads. A token header the client sent
 * itself is left as it is.
 */
export const DOWNLOAD_TOKEN_CODE = `function handler(event) {
  var headers = event.request.headers;
  if (!headers['${DOWNLOAD_TOKEN_HEADER}'] && headers.authorization) {
    headers['${DOWNLOAD_TOKEN_HEADER}'] = { value: headers.authorization.value };
  }
  return event.request;
}`;

/** Viewer headers forwarded to the download function: the token, and what ranges and revalidation need. */
export const DOWNLOAD_FORWARDED_HEADERS = [DOWNLOAD_TOKEN_HEADER, 'range', 'if-range', 'if-none-match'] as const;

/**
 * Content Security Policy of the web app. `connect-src` also admits the S3 endpoints of the replica
 * regions: clients may fetch chunks in parallel through presigned URLs.
 */
export function contentSecurityPolicy(regions: readonly string[]): string {
  return sharedCsp(s3ConnectSources(regions));
}

export class WebStack extends Stack {
  readonly bucket: s3.Bucket;
  readonly distribution: cloudfront.Distribution;
  /** False when there was no built web app to upload (e.g. synthesis in tests). */
  readonly deploysSite: boolean;

  constructor(scope: Construct, id: string, props: WebStackProps) {
    super(scope, id, props);
    const { settings } = props;

    let logBucket: s3.Bucket | undefined;
    if (settings.accessLogs) {
      logBucket = new s3.Bucket(this, 'AccessLogs', {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        encryption: s3.BucketEncryption.S3_MANAGED,
        // CloudFront standard logs are written with ACLs.
        objectOwnership: s3.ObjectOwnership.OBJECT_WRITER,
        // Retained on teardown, not when a failed first deploy rolls back.
        removalPolicy: settings.removalPolicy === RemovalPolicy.DESTROY ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
        autoDeleteObjects: settings.removalPolicy === RemovalPolicy.DESTROY,
        lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
      });
    }

    // The site is build output, reproducible at any time: it never needs to outlive the stack.
    this.bucket = new s3.Bucket(this, 'Site', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.DESTROY,
      autoDeleteObjects: true,
      serverAccessLogsBucket: logBucket,
      serverAccessLogsPrefix: logBucket ? 'site/' : undefined,
    });

    const securityHeaders = new cloudfront.ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'EchoFS security headers',
      securityHeadersBehavior: {
        strictTransportSecurity: { accessControlMaxAge: Duration.days(365), includeSubdomains: true, preload: true, override: true },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: cloudfront.HeadersFrameOption.DENY, override: true },
        referrerPolicy: { referrerPolicy: cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override: true },
        xssProtection: { protection: true, modeBlock: true, override: true },
        contentSecurityPolicy: { contentSecurityPolicy: contentSecurityPolicy(settings.regions), override: true },
      },
    });

    const spaFallback = new cloudfront.Function(this, 'SpaFallback', {
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      comment: 'EchoFS: serve index.html for client-side routes',
      code: cloudfront.FunctionCode.fromInline(SPA_FALLBACK_CODE),
    });

    // API traffic: never cached, every viewer header but Host forwarded (Authorization included).
    const apiBehavior = (origin: cloudfront.IOrigin): cloudfront.BehaviorOptions => ({
      origin,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      responseHeadersPolicy: securityHeaders,
      compress: false,
    });
    const apiOrigin = new origins.HttpOrigin(apiHost(props.api), {
      protocolPolicy: cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [cloudfront.OriginSslPolicy.TLS_V1_2],
      readTimeout: Duration.seconds(30),
    });
    // Origin access control: CloudFront signs every origin request (SigV4, always), and the web
    // stack grants this distribution alone lambda:InvokeFunctionUrl on the function.
    const downloadOrigin = origins.FunctionUrlOrigin.withOriginAccessControl(props.downloadUrl, { readTimeout: Duration.seconds(60) });
    const downloadToken = new cloudfront.Function(this, 'DownloadToken', {
      runtime: cloudfront.FunctionRuntime.JS_2_0,
      comment: 'EchoFS: carry the bearer token of a download past origin access control',
      code: cloudfront.FunctionCode.fromInline(DOWNLOAD_TOKEN_CODE),
    });
    const downloadRequest = new cloudfront.OriginRequestPolicy(this, 'DownloadOriginRequest', {
      comment: 'EchoFS downloads: the token header, ranges, revalidation and the query string; no cookies',
      headerBehavior: cloudfront.OriginRequestHeaderBehavior.allowList(...DOWNLOAD_FORWARDED_HEADERS),
      queryStringBehavior: cloudfront.OriginRequestQueryStringBehavior.all(),
      cookieBehavior: cloudfront.OriginRequestCookieBehavior.none(),
    });
    const downloadBehavior: cloudfront.BehaviorOptions = {
      origin: downloadOrigin,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
      // Downloads are GETs; other methods would need a signed payload hash through OAC.
      allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: downloadRequest,
      responseHeadersPolicy: securityHeaders,
      functionAssociations: [{ function: downloadToken, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }],
      compress: false,
    };

    const certificate = settings.certificateArn ? acm.Certificate.fromCertificateArn(this, 'Certificate', settings.certificateArn) : undefined;

    this.distribution = new cloudfront.Distribution(this, 'Cdn', {
      comment: `${settings.namePrefix} web app and API`,
      defaultRootObject: 'index.html',
      defaultBehavior: {
        origin: origins.S3BucketOrigin.withOriginAccessControl(this.bucket),
        viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
        cachePolicy: cloudfront.CachePolicy.CACHING_OPTIMIZED,
        responseHeadersPolicy: securityHeaders,
        functionAssociations: [{ function: spaFallback, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST }],
        compress: true,
      },
      // Order matters: the first matching pattern wins.
      additionalBehaviors: {
        [DOWNLOAD_PATH_PATTERN]: downloadBehavior,
        '/api/*': apiBehavior(apiOrigin),
        '/v1/*': apiBehavior(apiOrigin),
      },
      domainNames: settings.domainName ? [settings.domainName] : undefined,
      certificate,
      // Only meaningful with a custom certificate; the default *.cloudfront.net one is fixed.
      minimumProtocolVersion: certificate ? cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 : undefined,
      httpVersion: cloudfront.HttpVersion.HTTP2_AND_3,
      priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
      enableLogging: logBucket !== undefined,
      logBucket,
      logFilePrefix: logBucket ? 'cloudfront/' : undefined,
    });

    const webDist = props.webDist ?? path.join(REPO_ROOT, 'web', 'dist');
    this.deploysSite = existsSync(path.join(webDist, 'index.html'));
    if (this.deploysSite) {
      new s3deploy.BucketDeployment(this, 'SiteDeployment', {
        sources: [s3deploy.Source.asset(webDist)],
        destinationBucket: this.bucket,
        distribution: this.distribution,
        distributionPaths: ['/*'],
        memoryLimit: 512,
        prune: true,
      });
    }

    new CfnOutput(this, 'WebUrl', {
      value: `https://${settings.domainName ?? this.distribution.distributionDomainName}`,
      description: 'EchoFS web app (and API under /api and /v1)',
    });
    new CfnOutput(this, 'DistributionDomainName', {
      value: this.distribution.distributionDomainName,
      description: settings.domainName ? `Point ${settings.domainName} (CNAME/alias) here` : 'CloudFront domain',
    });
    new CfnOutput(this, 'SiteBucketName', { value: this.bucket.bucketName });
  }
}
