import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { RemovalPolicy } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { chunkBucketName, parseSettings, SettingsError } from '../../infra/cloud/settings.js';

const from = (ctx: Record<string, unknown>) => parseSettings((k) => ctx[k]);

describe('deployment settings from cdk.json context', () => {
  it('defaults to three regions, the first as home, prefix echofs, retain, no domain', () => {
    const s = from({});
    expect(s.regions).toEqual(['us-east-1', 'eu-west-1', 'ap-southeast-1']);
    expect(s.homeRegion).toBe('us-east-1');
    expect(s.namePrefix).toBe('echofs');
    expect(s.removalPolicy).toBe(RemovalPolicy.RETAIN);
    expect(s.domainName).toBeUndefined();
    expect(s.accessLogs).toBe(false);
    expect(s.maxLagSeconds).toBe(300);
  });

  it('reads the context committed in cdk.json as the documented defaults', () => {
    const cdkJson = JSON.parse(readFileSync(path.join(import.meta.dirname, '..', '..', 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
    const s = from(cdkJson.context);
    expect(s).toEqual(from({}));
  });

  it('accepts cdk.json arrays and command-line comma lists alike, and empty strings as unset', () => {
    expect(from({ 'echofs:regions': ['eu-west-1', 'us-east-1'] }).regions).toEqual(['eu-west-1', 'us-east-1']);
    expect(from({ 'echofs:regions': 'eu-west-1, us-east-1' }).homeRegion).toBe('eu-west-1');
    expect(from({ 'echofs:regions': '["eu-west-1"]' }).regions).toEqual(['eu-west-1']);
    const s = from({ 'echofs:domainName': '', 'echofs:adminEmails': '', 'echofs:removalPolicy': 'DESTROY' });
    expect(s.domainName).toBeUndefined();
    expect(s.adminEmails).toEqual([]);
    expect(s.removalPolicy).toBe(RemovalPolicy.DESTROY);
  });

  it('reports every bad setting at once, naming the context key', () => {
    let err: unknown;
    try {
      from({
        'echofs:regions': 'us-east-1,mars-1,us-east-1',
        'echofs:homeRegion': 'eu-west-3',
        'echofs:namePrefix': 'Echo_FS',
        'echofs:removalPolicy': 'keep',
        'echofs:domainName': 'files.example.com',
        'echofs:adminEmails': 'nobody',
        'echofs:maxLagSeconds': '-1',
        'echofs:replicatorConcurrency': '0',
        'echofs:reservedConcurrency': 'sometimes',
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(SettingsError);
    const problems = (err as SettingsError).problems.join('\n');
    for (const key of ['echofs:regions', 'mars-1', 'repeat', 'echofs:homeRegion', 'echofs:namePrefix', 'echofs:removalPolicy', 'echofs:certificateArn', 'echofs:adminEmails', 'echofs:maxLagSeconds', 'echofs:replicatorConcurrency', 'echofs:reservedConcurrency']) {
      expect(problems).toContain(key);
    }
  });

  it('passes extra ECHOFS_* tuning variables through, but never lets them override what the stacks set', () => {
    expect(from({ 'echofs:environment': '{"ECHOFS_MODE":"hybrid","ECHOFS_CTRL_SAMPLES":5}' }).environment).toEqual({ ECHOFS_MODE: 'hybrid', ECHOFS_CTRL_SAMPLES: '5' });
    expect(from({ 'echofs:environment': { ECHOFS_PROBE_TIMEOUT_MS: '1500' } }).environment).toEqual({ ECHOFS_PROBE_TIMEOUT_MS: '1500' });
    expect(() => from({ 'echofs:environment': { ECHOFS_BUCKETS: '{}' } })).toThrow(/ECHOFS_BUCKETS is set by the stacks/);
    // A literal admin token would sit in the template in clear; the deploy generates it instead.
    expect(() => from({ 'echofs:environment': { ECHOFS_ADMIN_TOKEN: 'x'.repeat(32) } })).toThrow(/ECHOFS_ADMIN_TOKEN is set by the stacks/);
    expect(() => from({ 'echofs:environment': { AWS_REGION: 'x' } })).toThrow(/not an ECHOFS_\* variable/);
    expect(() => from({ 'echofs:environment': '[1]' })).toThrow(/JSON object/);
  });

  it('reserves concurrency by default (replicator 2), configurable, and can be turned off for accounts without room to reserve', () => {
    expect(from({})).toMatchObject({ reservedConcurrency: true, replicatorConcurrency: 2 });
    expect(from({ 'echofs:replicatorConcurrency': '5' }).replicatorConcurrency).toBe(5);
    expect(from({ 'echofs:reservedConcurrency': false }).reservedConcurrency).toBe(false);
    expect(from({ 'echofs:reservedConcurrency': 'false' }).reservedConcurrency).toBe(false);
    expect(() => from({ 'echofs:replicatorConcurrency': '2.5' })).toThrow(/whole number from 1 to 20/);
    expect(() => from({ 'echofs:replicatorConcurrency': '21' })).toThrow(/whole number from 1 to 20/);
  });

  it('rejects a certificate outside us-east-1 (CloudFront takes only those)', () => {
    expect(() => from({ 'echofs:domainName': 'a.example.com', 'echofs:certificateArn': 'arn:aws:acm:eu-west-1:123456789012:certificate/x' })).toThrow(/us-east-1/);
  });

  it('names chunk buckets deterministically within the 63-character S3 limit for the longest prefix and region', () => {
    expect(chunkBucketName('echofs', '123456789012', 'eu-west-1')).toBe('echofs-chunks-123456789012-eu-west-1');
    const longest = chunkBucketName('a'.repeat(20), '123456789012', 'ap-southeast-5');
    expect(longest.length).toBeLessThanOrEqual(63);
  });
});
