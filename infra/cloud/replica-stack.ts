/**
 * One replica ("worker"): the chunk bucket of one region. Chunks are immutable and addressed by
 * hash; the catalog in the home region says which region holds what.
 */
import { Duration, RemovalPolicy, Stack, type StackProps, CfnOutput } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { PROBE_PREFIX } from './contracts.js';
import { chunkBucketName } from './settings.js';

export interface ReplicaStackProps extends StackProps {
  namePrefix: string;
  removalPolicy: RemovalPolicy;
  /** Keep S3 server access logs in a separate bucket of the same region. */
  accessLogs: boolean;
}

export class ReplicaStack extends Stack {
  readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ReplicaStackProps) {
    super(scope, id, props);
    const destroy = props.removalPolicy === RemovalPolicy.DESTROY;
    // Retained on teardown, but deleted (empty) when the create that made it is rolled back: the
    // bucket name is deterministic, so a bucket left by a failed first deploy would block the next.
    const keep = destroy ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE;

    let logBucket: s3.Bucket | undefined;
    if (props.accessLogs) {
      logBucket = new s3.Bucket(this, 'AccessLogs', {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        encryption: s3.BucketEncryption.S3_MANAGED,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
        removalPolicy: keep,
        autoDeleteObjects: destroy,
        lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
      });
    }

    this.bucket = new s3.Bucket(this, 'Chunks', {
      bucketName: chunkBucketName(props.namePrefix, this.account, this.region),
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      encryption: s3.BucketEncryption.S3_MANAGED,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: keep,
      autoDeleteObjects: destroy,
      serverAccessLogsBucket: logBucket,
      serverAccessLogsPrefix: logBucket ? 'chunks/' : undefined,
      lifecycleRules: [
        { id: 'abort-incomplete-multipart-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
        // Probe objects are tiny and rewritten every few seconds; nothing older is useful.
        { id: 'expire-probe-objects', prefix: PROBE_PREFIX, expiration: Duration.days(1) },
      ],
      // Clients may fetch chunks in parallel through presigned GET URLs (the signature is the
      // authorisation; no cookies are sent), so browsers need a CORS answer for GET and HEAD.
      cors: [
        {
          allowedMethods: [s3.HttpMethods.GET, s3.HttpMethods.HEAD],
          allowedOrigins: ['*'],
          allowedHeaders: ['range'],
          exposedHeaders: ['content-length', 'content-range', 'etag'],
          maxAge: 3600,
        },
      ],
    });

    new CfnOutput(this, 'ChunkBucketName', { value: this.bucket.bucketName, description: `Chunk bucket of ${this.region}` });
  }
}
