/**
 * Template assertions on the whole EchoFS app with default settings (three regions, retain), one
 * synthesis for the file: each resource and its security properties, each function's grants,
 * no VPC on any function and no NAT gateway, cdk-nag AwsSolutions with zero errors, and nothing found
 * by the CDK's built-in CloudFormation validation.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { routes, routeKey } from '#shared/routes.js';
import { METRIC, DIMENSION } from '#shared/controller/metrics.js';
import { PROBE_PREFIX } from '#shared/controller/prober.js';
import { TTL_ATTRIBUTE } from '#shared/controller/dynamo-store.js';
import { DOWNLOAD_TOKEN_HEADER } from '#shared/downloads.js';
import { INVOCATION_BUDGET_MS } from '#functions/prober/handler.js';
import { SPA_FALLBACK_CODE, DOWNLOAD_PATH_PATTERN, DOWNLOAD_TOKEN_CODE, DOWNLOAD_FORWARDED_HEADERS } from '../../infra/cloud/web-stack.js';
import { PROBE_SCHEDULE } from '../../infra/cloud/core-stack.js';
import { allowedActions, roleStatements, synthesize, type Synthesized } from './synth.js';

let s: Synthesized;
let core: Template;
let web: Template;
let obs: Template;

beforeAll(() => {
  s = synthesize();
  core = s.template(s.core);
  web = s.template(s.web);
  obs = s.template(s.observability);
});

const logicalId = (fn: lambda.Function) => s.core.getLogicalId(fn.node.defaultChild as Parameters<typeof s.core.getLogicalId>[0]);

describe('cdk-nag', () => {
  it('reports zero unsuppressed AwsSolutions errors across every stack', () => {
    expect(s.errors()).toEqual([]);
  });

  it("the CDK's built-in CloudFormation validation finds nothing in any template (the CDK itself would only warn)", () => {
    expect(s.validationFindings()).toEqual([]);
  });
});

describe('replica stacks', () => {
  it('creates one replica stack per configured region, each in its own region', () => {
    expect(s.replicas.map((r) => r.region)).toEqual(['us-east-1', 'eu-west-1', 'ap-southeast-1']);
  });

  it('makes each chunk bucket private, TLS-only, encrypted, retained, with multipart cleanup', () => {
    for (const replica of s.replicas) {
      const t = s.template(replica);
      t.hasResource('AWS::S3::Bucket', {
        // Kept on teardown; deleted (empty) if the create that made it is rolled back, since its
        // deterministic name would otherwise block the next deploy.
        DeletionPolicy: 'RetainExceptOnCreate',
        UpdateReplacePolicy: 'Retain',
        Properties: Match.objectLike({
          BucketName: { 'Fn::Join': ['', ['echofs-chunks-', { Ref: 'AWS::AccountId' }, `-${replica.region}`]] },
          PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
          BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
          LifecycleConfiguration: {
            Rules: Match.arrayWith([Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' })]),
          },
        }),
      });
      t.hasResourceProperties('AWS::S3::BucketPolicy', {
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
      // Default settings: no access-log bucket, no auto-delete custom resource.
      t.resourceCountIs('AWS::S3::Bucket', 1);
      t.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
    }
  });
});

describe('core stack: API', () => {
  const deployed = routes.filter((r) => !r.localOnly);

  it('has exactly one HTTP API route per deployable route of the shared table, none of the local-only ones', () => {
    const keys = Object.values(core.findResources('AWS::ApiGatewayV2::Route')).map((r) => (r.Properties as { RouteKey: string }).RouteKey);
    expect(keys.sort()).toEqual(deployed.map(routeKey).sort());
    for (const r of routes.filter((x) => x.localOnly)) expect(keys).not.toContain(routeKey(r));
  });

  it('sends each route to the function named in the table, with no API Gateway authorizer', () => {
    const integrations = core.findResources('AWS::ApiGatewayV2::Integration');
    const targetOf = (integrationRef: unknown) => {
      const id = JSON.stringify(integrationRef).match(/"Ref":"([^"]+)"/)?.[1] ?? '';
      return JSON.stringify(integrations[id]?.Properties);
    };
    const fnIds = { auth: logicalId(s.core.functions.auth), files: logicalId(s.core.functions.files), controller: logicalId(s.core.functions.controller) };
    for (const res of Object.values(core.findResources('AWS::ApiGatewayV2::Route'))) {
      const p = res.Properties as { RouteKey: string; Target: unknown; AuthorizationType?: string };
      const route = deployed.find((r) => routeKey(r) === p.RouteKey);
      expect(route, p.RouteKey).toBeDefined();
      expect(targetOf(p.Target), p.RouteKey).toContain(fnIds[route!.fn as keyof typeof fnIds]);
      expect(p.AuthorizationType ?? 'NONE').toBe('NONE');
    }
    core.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0);
  });

  it('logs API access to a log group with retention and throttles the default stage', () => {
    core.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: Match.anyValue(), ThrottlingBurstLimit: Match.anyValue() }),
    });
  });

  it('serves streamed downloads through a RESPONSE_STREAM Function URL on the files stream handler, which is not public (AWS_IAM)', () => {
    core.resourceCountIs('AWS::Lambda::Url', 1);
    core.hasResourceProperties('AWS::Lambda::Url', {
      AuthType: 'AWS_IAM',
      InvokeMode: 'RESPONSE_STREAM',
      TargetFunctionArn: { 'Fn::GetAtt': [logicalId(s.core.functions.filesStream), 'Arn'] },
    });
    core.hasResourceProperties('AWS::Lambda::Function', { Handler: 'index.streamHandler', FunctionName: Match.absent() });
    // No resource policy opens the URL to everyone (AuthType NONE would add one for principal *).
    for (const p of Object.values(core.findResources('AWS::Lambda::Permission'))) {
      expect((p.Properties as { Principal: unknown }).Principal).not.toBe('*');
    }
  });
});

describe('core stack: functions', () => {
  const fns = () => Object.entries(core.findResources('AWS::Lambda::Function')).filter(([id]) => Object.values(s.core.functions).some((f) => logicalId(f) === id));

  it('builds every EchoFS function for Node 22 on arm64 with source maps and an explicit log group', () => {
    expect(fns()).toHaveLength(7);
    for (const [id, res] of fns()) {
      const p = res.Properties as Record<string, unknown> & { Environment: { Variables: Record<string, unknown> } };
      expect(p.Runtime, id).toBe('nodejs22.x');
      expect(p.Architectures, id).toEqual(['arm64']);
      expect(p.Environment.Variables.NODE_OPTIONS, id).toBe('--enable-source-maps');
      expect(p.Environment.Variables.ECHOFS_STAGE, id).toBe('cloud');
      expect(p.Environment.Variables.ECHOFS_REGIONS, id).toBe('us-east-1,eu-west-1,ap-southeast-1');
      expect(JSON.stringify(p.Environment.Variables.ECHOFS_BUCKETS), id).toContain('echofs-chunks-');
      expect(p.LoggingConfig, id).toMatchObject({ LogGroup: { Ref: expect.any(String) } });
    }
    const groups = Object.values(core.findResources('AWS::Logs::LogGroup'));
    expect(groups.every((g) => typeof (g.Properties as { RetentionInDays?: number }).RetentionInDays === 'number')).toBe(true);
  });

  it('puts no Lambda function in a VPC, and the catalog VPC has no NAT gateway and no internet gateway', () => {
    for (const res of Object.values(core.findResources('AWS::Lambda::Function'))) {
      expect((res.Properties as Record<string, unknown>).VpcConfig).toBeUndefined();
    }
    core.resourceCountIs('AWS::EC2::NatGateway', 0);
    core.resourceCountIs('AWS::EC2::InternetGateway', 0);
    core.resourceCountIs('AWS::EC2::EIP', 0);
    for (const sub of Object.values(core.findResources('AWS::EC2::Subnet'))) {
      expect((sub.Properties as { MapPublicIpOnLaunch?: boolean }).MapPublicIpOnLaunch ?? false).toBe(false);
    }
  });

  it('schedules the prober and the replicator drain every minute, the sweep hourly and gc daily', () => {
    const schedules = Object.values(core.findResources('AWS::Scheduler::Schedule')).map((r) => r.Properties as { ScheduleExpression: string; Target: { Arn: unknown; Input: string } });
    const find = (task: string) => schedules.find((x) => JSON.parse(x.Target.Input).task === task);
    expect(find('probe')?.ScheduleExpression).toBe('rate(1 minute)');
    expect(JSON.stringify(find('probe')?.Target.Arn)).toContain(logicalId(s.core.functions.prober));
    expect(find('drain')?.ScheduleExpression).toBe('rate(1 minute)');
    expect(find('sweep')?.ScheduleExpression).toBe('rate(1 hour)');
    expect(find('gc')?.ScheduleExpression).toBe('rate(1 day)');
    for (const t of ['drain', 'sweep', 'gc']) expect(JSON.stringify(find(t)?.Target.Arn)).toContain(logicalId(s.core.functions.replicator));
  });

  it('tells the files functions which replicator to kick after a write', () => {
    const files = core.findResources('AWS::Lambda::Function')[logicalId(s.core.functions.files)];
    expect((files?.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables.ECHOFS_REPLICATOR_FUNCTION).toEqual({ Ref: logicalId(s.core.functions.replicator) });
  });
});

describe('core stack: data', () => {
  it('runs the catalog on Aurora PostgreSQL Serverless v2 with the Data API, encrypted, in isolated subnets', () => {
    core.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EnableHttpEndpoint: true,
      StorageEncrypted: true,
      DatabaseName: 'echofs',
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 8 },
      MasterUsername: Match.anyValue(),
    });
    core.hasResourceProperties('AWS::RDS::DBInstance', { DBInstanceClass: 'db.serverless', PubliclyAccessible: false });
    core.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Snapshot' });
    // The owner's password lives in Secrets Manager, generated, and is retained like the data.
    core.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'RetainExceptOnCreate',
      Properties: Match.objectLike({ GenerateSecretString: Match.objectLike({ SecretStringTemplate: Match.stringLikeRegexp('echofs_admin') }) }),
    });
    // The runtime role's password: generated, re-set on the role at every deploy, not retained.
    core.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ GenerateSecretString: Match.objectLike({ SecretStringTemplate: Match.stringLikeRegexp('echofs_app') }) }),
    });
  });

  it('applies the catalog migrations on deploy through a custom resource that waits for the cluster', () => {
    const crs = core.findResources('Custom::EchoFSMigrations');
    const [cr] = Object.values(crs);
    expect(cr).toBeDefined();
    expect((cr?.Properties as { MigrationsHash: string }).MigrationsHash).toMatch(/^[0-9a-f]{16}$/);
    const clusterId = Object.keys(core.findResources('AWS::RDS::DBCluster'))[0];
    const instanceId = Object.keys(core.findResources('AWS::RDS::DBInstance'))[0];
    expect(cr?.DependsOn).toEqual(expect.arrayContaining([clusterId, instanceId]));
  });

  it('keeps controller state in an on-demand DynamoDB table with PITR and the store\'s TTL attribute', () => {
    core.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'RetainExceptOnCreate',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        SSESpecification: { SSEEnabled: true },
      }),
    });
  });

  it('generates the JWT signing secret in Secrets Manager', () => {
    core.hasResourceProperties('AWS::SecretsManager::Secret', {
      Description: 'EchoFS JWT signing secret',
      GenerateSecretString: Match.objectLike({ PasswordLength: 64 }),
    });
  });
});

describe('core stack: least privilege', () => {
  const statementsOf = (fn: lambda.Function) => roleStatements(s.core, core, fn);
  const s3Actions = (st: { actions: string[] }[]) => [...allowedActions(st)].filter((a) => a.startsWith('s3:'));
  const dynamoWrites = (st: { actions: string[] }[]) => [...allowedActions(st)].filter((a) => /^dynamodb:(PutItem|UpdateItem|DeleteItem|BatchWriteItem)$/.test(a));
  const jwtSecretId = () => s.core.getLogicalId(s.core.jwtSecret.node.defaultChild as Parameters<typeof s.core.getLogicalId>[0]);
  const touchesJwtSecret = (st: { resource: string }[]) => st.some((x) => x.resource.includes(jwtSecretId()));

  it('auth: catalog, JWT secret and admin token only (no S3, no DynamoDB, no invoke)', () => {
    const st = statementsOf(s.core.functions.auth);
    expect(s3Actions(st)).toEqual([]);
    expect([...allowedActions(st)].filter((a) => a.startsWith('dynamodb:'))).toEqual([]);
    expect(allowedActions(st).has('lambda:InvokeFunction')).toBe(false);
    expect(allowedActions(st).has('rds-data:ExecuteStatement')).toBe(true);
    expect(touchesJwtSecret(st)).toBe(true);
  });

  it('files: reads and writes chunks (never deletes), reads the table, may invoke the replicator', () => {
    for (const fn of [s.core.functions.files, s.core.functions.filesStream]) {
      const st = statementsOf(fn);
      expect(s3Actions(st).sort()).toEqual(['s3:GetObject', 's3:ListBucket', 's3:PutObject']);
      const objectResources = st.filter((x) => x.actions.includes('s3:PutObject')).map((x) => x.resource);
      expect(objectResources).toHaveLength(3);
      for (const r of objectResources) expect(r).toMatch(/\/chunks\/\*"/);
      expect(dynamoWrites(st)).toEqual([]);
      expect(allowedActions(st).has('dynamodb:GetItem')).toBe(true);
      expect(touchesJwtSecret(st)).toBe(true);
      const invoke = st.filter((x) => x.actions.includes('lambda:InvokeFunction'));
      expect(invoke.length).toBeGreaterThan(0);
      for (const x of invoke) expect(x.resource).toContain(logicalId(s.core.functions.replicator));
    }
  });

  it('controller: writes the table, reads the catalog, touches no bucket', () => {
    const st = statementsOf(s.core.functions.controller);
    expect(s3Actions(st)).toEqual([]);
    expect(dynamoWrites(st)).toContain('dynamodb:PutItem');
    expect(touchesJwtSecret(st)).toBe(true);
  });

  it('prober: only its probe keys in the buckets, writes the table', () => {
    const st = statementsOf(s.core.functions.prober);
    expect(s3Actions(st).sort()).toEqual(['s3:GetObject', 's3:PutObject']);
    const resources = st.filter((x) => x.actions.some((a) => a.startsWith('s3:'))).map((x) => x.resource);
    expect(resources).toHaveLength(3);
    for (const r of resources) expect(r).toContain(`/${PROBE_PREFIX}*`);
    expect(dynamoWrites(st)).toContain('dynamodb:PutItem');
    expect(allowedActions(st).has('lambda:InvokeFunction')).toBe(false);
    expect(touchesJwtSecret(st)).toBe(false);
  });

  it('replicator: reads, writes, deletes and lists chunks; only reads the table', () => {
    const st = statementsOf(s.core.functions.replicator);
    expect(s3Actions(st).sort()).toEqual(['s3:DeleteObject', 's3:GetObject', 's3:ListBucket', 's3:PutObject']);
    expect(dynamoWrites(st)).toEqual([]);
    expect(allowedActions(st).has('lambda:InvokeFunction')).toBe(false);
    expect(touchesJwtSecret(st)).toBe(false);
  });

  it('migrate: the catalog only', () => {
    const st = statementsOf(s.core.functions.migrate);
    const services = new Set([...allowedActions(st)].map((a) => a.split(':')[0]));
    expect([...services].sort()).toEqual(['rds-data', 'secretsmanager']);
    expect(touchesJwtSecret(st)).toBe(false);
  });

  it('grants no function a wildcard action or an all-resources statement', () => {
    for (const [name, fn] of Object.entries(s.core.functions)) {
      for (const st of statementsOf(fn)) {
        expect(st.resource, name).not.toBe('"*"');
        for (const a of st.actions) expect(a.endsWith(':*'), `${name}: ${a}`).toBe(false);
      }
    }
  });
});

describe('core stack: catalog users (owner for migrations, a data-only runtime role for everything else)', () => {
  const secretId = (secret: { node: { defaultChild?: unknown } }) => s.core.getLogicalId(secret.node.defaultChild as Parameters<typeof s.core.getLogicalId>[0]);
  const env = (fn: lambda.Function) =>
    (core.findResources('AWS::Lambda::Function')[logicalId(fn)]?.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;
  const readsSecret = (fn: lambda.Function, id: string) =>
    roleStatements(s.core, core, fn).some((x) => x.actions.includes('secretsmanager:GetSecretValue') && x.resource.includes(id));
  const runtime = () => {
    const { migrate: _migrate, ...rest } = s.core.functions;
    return Object.entries(rest);
  };

  it('gives every runtime function the runtime role\'s secret, never the owner\'s', () => {
    const owner = secretId(s.core.catalogSecret);
    const app = secretId(s.core.catalogAppSecret);
    expect(runtime().map(([name]) => name).sort()).toEqual(['auth', 'controller', 'files', 'filesStream', 'prober', 'replicator']);
    for (const [name, fn] of runtime()) {
      expect(env(fn).ECHOFS_DB_SECRET_ARN, name).toEqual({ Ref: app });
      expect(env(fn).ECHOFS_DB_APP_SECRET_ARN, name).toBeUndefined();
      expect(readsSecret(fn, app), name).toBe(true);
      expect(readsSecret(fn, owner), name).toBe(false);
    }
  });

  it('gives the migrate function the owner\'s secret for the Data API and the runtime role\'s to set its password', () => {
    const owner = secretId(s.core.catalogSecret);
    const app = secretId(s.core.catalogAppSecret);
    expect(env(s.core.functions.migrate).ECHOFS_DB_SECRET_ARN).toEqual({ Ref: owner });
    expect(env(s.core.functions.migrate).ECHOFS_DB_APP_SECRET_ARN).toEqual({ Ref: app });
    expect(readsSecret(s.core.functions.migrate, owner)).toBe(true);
    expect(readsSecret(s.core.functions.migrate, app)).toBe(true);
  });

  it('lets no role but the migrate function\'s read the owner\'s secret', () => {
    const owner = secretId(s.core.catalogSecret);
    const migrateRole = s.core.getLogicalId(s.core.functions.migrate.role!.node.defaultChild as Parameters<typeof s.core.getLogicalId>[0]);
    for (const [id, p] of Object.entries(core.findResources('AWS::IAM::Policy'))) {
      const props = p.Properties as { Roles?: { Ref?: string }[]; PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } };
      const grantsOwner = props.PolicyDocument.Statement.some((st) => [st.Action].flat().some((a) => a.startsWith('secretsmanager:')) && JSON.stringify(st.Resource).includes(owner));
      if (grantsOwner) expect(props.Roles?.map((r) => r.Ref), id).toEqual([migrateRole]);
    }
  });

  it('re-runs the migrations (and the role\'s grants) when the runtime role\'s secret changes, and schedules wait for them', () => {
    const [cr] = Object.values(core.findResources('Custom::EchoFSMigrations'));
    expect((cr?.Properties as { AppSecret: unknown }).AppSecret).toEqual({ Ref: secretId(s.core.catalogAppSecret) });
    const crId = Object.keys(core.findResources('Custom::EchoFSMigrations'))[0];
    for (const [id, sched] of Object.entries(core.findResources('AWS::Scheduler::Schedule'))) expect(sched.DependsOn, id).toContain(crId);
  });
});

describe('core stack: concurrency of the scheduled functions', () => {
  const fnProps = (fn: lambda.Function) => core.findResources('AWS::Lambda::Function')[logicalId(fn)]?.Properties as Record<string, unknown>;
  const invokeConfig = (fn: lambda.Function) =>
    Object.values(core.findResources('AWS::Lambda::EventInvokeConfig')).find((r) => JSON.stringify(r.Properties).includes(`"${logicalId(fn)}"`))?.Properties as Record<string, unknown> | undefined;

  it('reserves one slot for the prober, so a scheduled run never overlaps the one before it', () => {
    expect(fnProps(s.core.functions.prober).ReservedConcurrentExecutions).toBe(1);
    // One run probes for at most the schedule's period and its timeout ends it soon after; the
    // next scheduled invocation is throttled (queued) meanwhile, and dropped after one period.
    expect(INVOCATION_BUDGET_MS).toBeLessThanOrEqual(PROBE_SCHEDULE.toMilliseconds());
    expect(fnProps(s.core.functions.prober).Timeout as number).toBeGreaterThan(INVOCATION_BUDGET_MS / 1000);
    expect(invokeConfig(s.core.functions.prober)).toMatchObject({ MaximumEventAgeInSeconds: PROBE_SCHEDULE.toSeconds(), MaximumRetryAttempts: 0 });
  });

  it('reserves a small number of slots for the replicator (default 2) and drops throttled kicks after 15 minutes', () => {
    expect(fnProps(s.core.functions.replicator).ReservedConcurrentExecutions).toBe(2);
    expect(invokeConfig(s.core.functions.replicator)).toMatchObject({ MaximumEventAgeInSeconds: 900, MaximumRetryAttempts: 0 });
  });

  it('reserves nothing for the request-path functions (they scale with the traffic)', () => {
    for (const fn of [s.core.functions.auth, s.core.functions.files, s.core.functions.filesStream, s.core.functions.controller, s.core.functions.migrate]) {
      expect(fnProps(fn).ReservedConcurrentExecutions).toBeUndefined();
    }
  });
});

describe('core stack: admin bootstrap token', () => {
  const tokenId = () => s.core.getLogicalId(s.core.adminToken.node.defaultChild as Parameters<typeof s.core.getLogicalId>[0]);
  const env = (fn: lambda.Function) =>
    (core.findResources('AWS::Lambda::Function')[logicalId(fn)]?.Properties as { Environment: { Variables: Record<string, unknown> } }).Environment.Variables;

  it('is generated by Secrets Manager at deploy (a random string, no value in the template) and named by a stack output', () => {
    const secret = core.findResources('AWS::SecretsManager::Secret')[tokenId()];
    expect(secret, 'the admin token secret').toBeDefined();
    const props = secret?.Properties as { GenerateSecretString?: Record<string, unknown>; SecretString?: unknown; Description?: string };
    expect(props.SecretString, 'no literal value in the template').toBeUndefined();
    expect(props.GenerateSecretString).toMatchObject({ PasswordLength: 48, ExcludePunctuation: true });
    expect(props.GenerateSecretString?.SecretStringTemplate, 'a plain string, not JSON').toBeUndefined();
    expect(props.Description).toMatch(/X-EchoFS-Admin-Token/);
    core.hasOutput('AdminTokenSecretArn', { Value: { Ref: tokenId() } });
  });

  it('is given to the auth function alone: its ARN in the environment and read access in its role only', () => {
    const fns = Object.entries(s.core.functions);
    for (const [name, fn] of fns) {
      const has = name === 'auth';
      expect(env(fn).ECHOFS_ADMIN_TOKEN_ARN, name).toEqual(has ? { Ref: tokenId() } : undefined);
      expect(env(fn).ECHOFS_ADMIN_TOKEN, `${name}: never a literal token`).toBeUndefined();
      const reads = roleStatements(s.core, core, fn).filter((x) => x.resource.includes(tokenId()));
      if (has) expect(reads.flatMap((x) => x.actions)).toContain('secretsmanager:GetSecretValue');
      else expect(reads, name).toEqual([]);
    }
    // No other policy of the stack (custom resources, the API, the schedules) mentions it.
    const authRole = s.core.getLogicalId(s.core.functions.auth.role!.node.defaultChild as Parameters<typeof s.core.getLogicalId>[0]);
    const granting = Object.entries(core.findResources('AWS::IAM::Policy')).filter(([, p]) => JSON.stringify((p.Properties as { PolicyDocument: unknown }).PolicyDocument).includes(tokenId()));
    expect(granting.length).toBeGreaterThan(0);
    for (const [id, p] of granting) expect((p.Properties as { Roles?: { Ref?: string }[] }).Roles?.map((r) => r.Ref), id).toEqual([authRole]);
  });
});

describe('core stack: a failed first deploy rolls back cleanly', () => {
  const kept = (t: Template) =>
    Object.entries(t.toJSON().Resources as Record<string, { Type: string; DeletionPolicy?: string }>)
      .filter(([, r]) => r.DeletionPolicy !== undefined && r.DeletionPolicy !== 'Delete')
      .map(([id, r]) => ({ id, type: r.Type, policy: r.DeletionPolicy }));

  it('creates nothing with deletion protection, so the rollback of a failed create can delete it', () => {
    core.hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: false });
    for (const t of Object.values(core.findResources('AWS::DynamoDB::Table'))) {
      expect((t.Properties as { DeletionProtectionEnabled?: boolean }).DeletionProtectionEnabled ?? false).toBe(false);
    }
  });

  it('retains nothing with plain Retain: what outlives the stack is RetainExceptOnCreate (deleted when its own create rolls back) or a final Snapshot', () => {
    const all = [...s.replicas.map((r) => s.template(r)), core, web, obs].flatMap(kept);
    for (const r of all) expect(['RetainExceptOnCreate', 'Snapshot'], `${r.id} (${r.type})`).toContain(r.policy);
    // Exactly the resources the README lists as kept after `cdk destroy`.
    const types = (t: Template) => kept(t).map((r) => r.type).sort();
    expect(types(core)).toEqual([
      'AWS::DynamoDB::Table',
      'AWS::Logs::LogGroup', // API access log
      'AWS::Logs::LogGroup', // auth
      'AWS::Logs::LogGroup', // controller
      'AWS::Logs::LogGroup', // files
      'AWS::Logs::LogGroup', // files stream
      'AWS::Logs::LogGroup', // migrate
      'AWS::Logs::LogGroup', // prober
      'AWS::Logs::LogGroup', // replicator
      'AWS::RDS::DBCluster', // final snapshot
      'AWS::SecretsManager::Secret', // owner credentials
      'AWS::SecretsManager::Secret', // JWT signing secret
    ]);
    for (const replica of s.replicas) expect(types(s.template(replica))).toEqual(['AWS::S3::Bucket']);
    expect(types(web)).toEqual([]);
    expect(types(obs)).toEqual([]);
  });

  it('switches deletion protection on in the stack\'s last step, after every other resource exists', () => {
    const steps = core.findResources('Custom::EchoFSDeletionProtection');
    expect(Object.keys(steps)).toHaveLength(2);
    const stepIds = new Set(Object.keys(steps));
    const all = core.toJSON().Resources as Record<string, { Type: string; DependsOn?: string[] }>;
    for (const [id, step] of Object.entries(steps)) {
      const deps = new Set(step.DependsOn ?? []);
      const serviceToken = JSON.stringify((step.Properties as { ServiceToken: unknown }).ServiceToken);
      for (const other of Object.keys(all)) {
        if (stepIds.has(other)) continue;
        // The other step's IAM policy is part of that step; everything else comes first.
        if (all[other]?.Type === 'AWS::IAM::Policy' && [...stepIds].some((x) => other.startsWith(x.replace(/[0-9A-F]{8}$/, '')))) continue;
        expect(deps.has(other) || serviceToken.includes(other), `${id} waits for ${other}`).toBe(true);
      }
    }
    const calls = Object.values(steps).map((r) => JSON.stringify(r.Properties));
    const catalog = calls.find((c) => c.includes('modifyDBCluster'));
    const table = calls.find((c) => c.includes('updateTable'));
    expect(catalog).toContain('\\"DeletionProtection\\":true');
    // Teardown switches the cluster's protection off again so that its final snapshot is taken.
    expect(JSON.stringify(JSON.parse(catalog!).Delete)).toContain('\\"DeletionProtection\\":false');
    expect(table).toContain('\\"DeletionProtectionEnabled\\":true');
    // The retained table keeps its protection after teardown.
    expect(JSON.parse(table!).Delete).toBeUndefined();
  });
});

describe('web stack', () => {
  it('keeps the site bucket private and reachable only by CloudFront through origin access control', () => {
    web.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    });
    web.resourceCountIs('AWS::CloudFront::OriginAccessControl', 2);
    web.hasResourceProperties('AWS::CloudFront::OriginAccessControl', {
      OriginAccessControlConfig: Match.objectLike({ OriginAccessControlOriginType: 's3', SigningBehavior: 'always', SigningProtocol: 'sigv4' }),
    });
    web.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Allow', Principal: { Service: 'cloudfront.amazonaws.com' }, Condition: { StringEquals: { 'AWS:SourceArn': Match.anyValue() } } }),
        ]),
      },
    });
  });

  type Behavior = { PathPattern: string; CachePolicyId: string; OriginRequestPolicyId: unknown; AllowedMethods: string[]; ViewerProtocolPolicy: string; FunctionAssociations?: { EventType: string; FunctionARN: unknown }[]; TargetOriginId: string };
  const distribution = () =>
    (Object.values(web.findResources('AWS::CloudFront::Distribution'))[0]?.Properties as {
      DistributionConfig: { CacheBehaviors: Behavior[]; Origins: { Id: string; OriginAccessControlId?: unknown; DomainName: unknown }[] };
    }).DistributionConfig;

  it('forwards /api/* and /v1/* uncached with every viewer header but Host', () => {
    const behaviors = distribution().CacheBehaviors;
    expect(behaviors.map((b) => b.PathPattern)).toEqual([DOWNLOAD_PATH_PATTERN, '/api/*', '/v1/*']);
    for (const b of behaviors.slice(1)) {
      expect(b.CachePolicyId).toBe(cloudfront.CachePolicy.CACHING_DISABLED.cachePolicyId);
      expect(b.OriginRequestPolicyId).toBe(cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER.originRequestPolicyId);
      expect(b.AllowedMethods).toEqual(expect.arrayContaining(['GET', 'POST', 'PUT', 'DELETE']));
      expect(b.ViewerProtocolPolicy).toBe('https-only');
      expect(b.FunctionAssociations).toBeUndefined();
    }
  });

  it('reaches the download Function URL only through origin access control, signed by this distribution alone', () => {
    const config = distribution();
    const download = config.CacheBehaviors.find((b) => b.PathPattern === DOWNLOAD_PATH_PATTERN)!;
    const origin = config.Origins.find((o) => o.Id === download.TargetOriginId)!;
    expect(JSON.stringify(origin.DomainName)).toContain('FunctionUrl');
    const oacId = JSON.stringify(origin.OriginAccessControlId).match(/"Fn::GetAtt":\["([^"]+)"/)?.[1] ?? '';
    expect(web.findResources('AWS::CloudFront::OriginAccessControl')[oacId]?.Properties).toEqual({
      OriginAccessControlConfig: expect.objectContaining({ OriginAccessControlOriginType: 'lambda', SigningBehavior: 'always', SigningProtocol: 'sigv4' }),
    });
    // CloudFront (this distribution) may invoke the URL; no one else is granted anything.
    const permissions = Object.values(web.findResources('AWS::Lambda::Permission')).map((p) => p.Properties as Record<string, unknown>);
    expect(permissions.map((p) => p.Action).sort()).toEqual(['lambda:InvokeFunction', 'lambda:InvokeFunctionUrl']);
    for (const p of permissions) {
      expect(p.Principal).toBe('cloudfront.amazonaws.com');
      expect(JSON.stringify(p.SourceArn)).toMatch(/:distribution\/".*"Ref":"Cdn/);
    }
  });

  it('carries the download token in its own header: copied from Authorization at the edge, forwarded, nothing else', () => {
    const download = distribution().CacheBehaviors.find((b) => b.PathPattern === DOWNLOAD_PATH_PATTERN)!;
    expect(download.AllowedMethods.sort()).toEqual(['GET', 'HEAD']);
    expect(download.CachePolicyId).toBe(cloudfront.CachePolicy.CACHING_DISABLED.cachePolicyId);
    expect(download.ViewerProtocolPolicy).toBe('https-only');
    const policyId = JSON.stringify(download.OriginRequestPolicyId).match(/"Ref":"([^"]+)"/)?.[1] ?? '';
    expect(web.findResources('AWS::CloudFront::OriginRequestPolicy')[policyId]?.Properties).toMatchObject({
      OriginRequestPolicyConfig: {
        HeadersConfig: { HeaderBehavior: 'whitelist', Headers: [...DOWNLOAD_FORWARDED_HEADERS] },
        QueryStringsConfig: { QueryStringBehavior: 'all' },
        CookiesConfig: { CookieBehavior: 'none' },
      },
    });
    expect(DOWNLOAD_FORWARDED_HEADERS).toContain(DOWNLOAD_TOKEN_HEADER);
    expect(download.FunctionAssociations).toHaveLength(1);
    expect(download.FunctionAssociations?.[0]?.EventType).toBe('viewer-request');
    web.hasResourceProperties('AWS::CloudFront::Function', { FunctionCode: DOWNLOAD_TOKEN_CODE, FunctionConfig: Match.objectLike({ Runtime: 'cloudfront-js-2.0' }) });
  });

  it('copies a viewer\'s Authorization: Bearer into the token header, and keeps a token header the client sent', () => {
    type Headers = Record<string, { value: string }>;
    const handler = new Function(`${DOWNLOAD_TOKEN_CODE}; return handler;`)() as (e: { request: { headers: Headers } }) => { headers: Headers };
    expect(handler({ request: { headers: { authorization: { value: 'Bearer abc' } } } }).headers[DOWNLOAD_TOKEN_HEADER]).toEqual({ value: 'Bearer abc' });
    const both = handler({ request: { headers: { authorization: { value: 'Bearer old' }, [DOWNLOAD_TOKEN_HEADER]: { value: 'Bearer new' } } } });
    expect(both.headers[DOWNLOAD_TOKEN_HEADER]).toEqual({ value: 'Bearer new' });
    expect(handler({ request: { headers: {} } }).headers[DOWNLOAD_TOKEN_HEADER]).toBeUndefined();
  });

  it('applies the SPA fallback on the default behaviour only, with security headers everywhere', () => {
    web.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultRootObject: 'index.html',
        DefaultCacheBehavior: Match.objectLike({
          ViewerProtocolPolicy: 'redirect-to-https',
          FunctionAssociations: [Match.objectLike({ EventType: 'viewer-request' })],
          ResponseHeadersPolicyId: Match.anyValue(),
        }),
      }),
    });
    web.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        SecurityHeadersConfig: Match.objectLike({
          StrictTransportSecurity: Match.objectLike({ AccessControlMaxAgeSec: 31536000, IncludeSubdomains: true }),
          ContentTypeOptions: { Override: true },
          FrameOptions: { FrameOption: 'DENY', Override: true },
          ReferrerPolicy: Match.objectLike({ ReferrerPolicy: 'strict-origin-when-cross-origin' }),
          ContentSecurityPolicy: Match.objectLike({ ContentSecurityPolicy: Match.stringLikeRegexp("frame-ancestors 'none'") }),
        }),
      }),
    });
  });

  it('rewrites client-side routes to /index.html and leaves files alone', () => {
    const handler = new Function(`${SPA_FALLBACK_CODE}; return handler;`)() as (e: { request: { uri: string } }) => { uri: string };
    expect(handler({ request: { uri: '/files/abc' } }).uri).toBe('/index.html');
    expect(handler({ request: { uri: '/' } }).uri).toBe('/index.html');
    expect(handler({ request: { uri: '/assets/app-1234.js' } }).uri).toBe('/assets/app-1234.js');
    expect(handler({ request: { uri: '/favicon.ico' } }).uri).toBe('/favicon.ico');
  });

  it('skips the site upload when there is no built web app', () => {
    expect(s.web.deploysSite).toBe(false);
    web.resourceCountIs('Custom::CDKBucketDeployment', 0);
  });
});

describe('observability stack', () => {
  const dashboardBody = () => JSON.stringify(Object.values(obs.findResources('AWS::CloudWatch::Dashboard'))[0]?.Properties);

  it('charts mode, score parts, per-region probes, backlog and lag, write latency by mode and errors', () => {
    const body = dashboardBody();
    for (const name of [METRIC.mode, METRIC.score, ...Object.values(METRIC.inputs), METRIC.probeLatency, METRIC.reachable, METRIC.backlog, METRIC.replicationLagMs, METRIC.writeLatency]) {
      expect(body, name).toContain(`\\"${name}\\"`);
    }
    for (const r of s.settings.regions) expect(body).toContain(`\\"${DIMENSION.region}\\",\\"${r}\\"`);
    for (const m of ['C', 'H', 'A']) expect(body).toContain(`\\"${DIMENSION.mode}\\",\\"${m}\\"`);
    expect(body).toContain('\\"service\\",\\"echofs\\"');
    expect(body).toContain('Errors');
    expect(body).toContain('5xx');
  });

  it('alarms on lag above the bound, on a majority of replicas unreachable, and on the API 5xx rate', () => {
    obs.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: METRIC.replicationLagMs,
      Namespace: 'EchoFS',
      Threshold: 300_000,
      ComparisonOperator: 'GreaterThanThreshold',
      Dimensions: [{ Name: 'service', Value: 'echofs' }],
    });
    obs.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: METRIC.unreachable,
      Threshold: 2,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    obs.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: 5,
      Metrics: Match.arrayWith([Match.objectLike({ Expression: Match.stringLikeRegexp('100 \\* errors / requests') })]),
    });
    for (const a of Object.values(obs.findResources('AWS::CloudWatch::Alarm'))) {
      expect((a.Properties as { AlarmActions?: unknown[] }).AlarmActions).toHaveLength(1);
    }
  });
});
