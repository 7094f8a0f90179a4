/**
 * The app with every optional setting turned on (five regions, destroy on teardown, access logs,
 * custom domain, alarm e-mail, a built web app): one synthesis for the file. Proves the options
 * change what they should, and that cdk-nag still reports zero unsuppressed errors.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Match } from 'aws-cdk-lib/assertions';
import { synthesize, type Synthesized } from './synth.js';

const REGIONS = ['eu-central-1', 'us-east-1', 'us-west-2', 'ap-northeast-1', 'sa-east-1'];
const CERT = 'arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';
let s: Synthesized;

beforeAll(() => {
  const dist = mkdtempSync(path.join(tmpdir(), 'echofs-web-dist-'));
  mkdirSync(path.join(dist, 'assets'));
  writeFileSync(path.join(dist, 'index.html'), '<!doctype html><title>EchoFS</title>');
  writeFileSync(path.join(dist, 'assets', 'app.js'), 'console.log(1)');
  s = synthesize(
    {
      'echofs:regions': REGIONS.join(','),
      'echofs:homeRegion': 'eu-central-1',
      'echofs:namePrefix': 'acme-files',
      'echofs:removalPolicy': 'destroy',
      'echofs:accessLogs': 'true',
      'echofs:domainName': 'files.example.com',
      'echofs:certificateArn': CERT,
      'echofs:alarmEmail': 'ops@example.com',
      'echofs:adminEmails': 'Root@Example.com,ops@example.com',
      'echofs:maxLagSeconds': '60',
      'echofs:environment': '{"ECHOFS_MODE":"hybrid"}',
      'echofs:replicatorConcurrency': '5',
    },
    { webDist: dist },
  );
});

describe('every option on', () => {
  it('reports zero unsuppressed cdk-nag errors', () => {
    expect(s.errors()).toEqual([]);
  });

  it("the CDK's built-in CloudFormation validation finds nothing in any template", () => {
    expect(s.validationFindings()).toEqual([]);
  });

  it('puts one replica per region and the core, web and observability stacks in the home region', () => {
    expect(s.replicas.map((r) => r.region)).toEqual(REGIONS);
    expect(s.replicas.map((r) => r.stackName)).toContain('acme-files-replica-sa-east-1');
    for (const st of [s.core, s.web, s.observability]) expect(st.region).toBe('eu-central-1');
  });

  it('deletes buckets (emptying them first), table and catalog on teardown when removal policy is destroy', () => {
    const t = s.template(s.replicas[0]!);
    t.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ BucketName: { 'Fn::Join': ['', ['acme-files-chunks-', { Ref: 'AWS::AccountId' }, '-eu-central-1']] } }),
    });
    t.resourceCountIs('Custom::S3AutoDeleteObjects', 2);
    const core = s.template(s.core);
    core.hasResource('AWS::DynamoDB::Table', { DeletionPolicy: 'Delete' });
    core.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Delete', Properties: Match.objectLike({ DeletionProtection: false }) });
    // Nothing to protect, so no deletion-protection step.
    core.resourceCountIs('Custom::EchoFSDeletionProtection', 0);
    for (const st of [s.core, s.web, s.observability, ...s.replicas]) {
      for (const [id, r] of Object.entries(s.template(st).toJSON().Resources as Record<string, { DeletionPolicy?: string }>)) {
        expect(r.DeletionPolicy ?? 'Delete', id).toBe('Delete');
      }
    }
  });

  it('reserves the configured number of replicator slots', () => {
    const replicator = s.core.getLogicalId(s.core.functions.replicator.node.defaultChild as Parameters<typeof s.core.getLogicalId>[0]);
    expect((s.template(s.core).findResources('AWS::Lambda::Function')[replicator]?.Properties as { ReservedConcurrentExecutions?: number }).ReservedConcurrentExecutions).toBe(5);
  });

  it('logs S3 access of the chunk buckets and CloudFront requests to access-log buckets', () => {
    s.template(s.replicas[1]!).hasResourceProperties('AWS::S3::Bucket', {
      LoggingConfiguration: { DestinationBucketName: Match.anyValue(), LogFilePrefix: 'chunks/' },
    });
    s.template(s.web).hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({ Logging: Match.objectLike({ Prefix: 'cloudfront/' }) }),
    });
  });

  it('serves the custom domain with its certificate and TLS 1.2 at least', () => {
    s.template(s.web).hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Aliases: ['files.example.com'],
        ViewerCertificate: { AcmCertificateArn: CERT, MinimumProtocolVersion: 'TLSv1.2_2021', SslSupportMethod: 'sni-only' },
      }),
    });
  });

  it('uploads the built web app and invalidates the distribution', () => {
    expect(s.web.deploysSite).toBe(true);
    s.template(s.web).hasResourceProperties('Custom::CDKBucketDeployment', { DistributionPaths: ['/*'], Prune: true });
  });

  it('passes the regions, tuning variables, lower-cased admin e-mails and bucket map of all five regions to the functions', () => {
    const fn = Object.values(s.template(s.core).findResources('AWS::Lambda::Function')).find(
      (f) => (f.Properties as { Environment?: { Variables?: Record<string, unknown> } }).Environment?.Variables?.ECHOFS_STAGE === 'cloud',
    );
    const env = (fn?.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
    expect(env.ECHOFS_REGIONS).toBe(REGIONS.join(','));
    expect(env.ECHOFS_MODE).toBe('hybrid');
    expect(env.ECHOFS_ADMIN_EMAILS).toBe('root@example.com,ops@example.com');
    const buckets = JSON.stringify(env.ECHOFS_BUCKETS);
    for (const r of REGIONS) expect(buckets).toContain(`-${r}`);
  });

  it('alarms when 3 of 5 replicas are unreachable and when lag passes 60 s, notifying the e-mail', () => {
    const obs = s.template(s.observability);
    obs.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'UnreachableReplicas', Threshold: 3 });
    obs.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'ReplicationLagMs', Threshold: 60_000 });
    obs.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
  });
});
