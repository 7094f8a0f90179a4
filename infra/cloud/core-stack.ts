/**
 * The core of EchoFS in the home region: the HTTP API generated from the shared route table, the
 * functions (each bound to exactly what it uses), the catalog (Aurora PostgreSQL Serverless v2
 * through the Data API, so no Lambda sits in a VPC), the controller table, the JWT secret, the
 * schedules, and the catalog migrations applied on every deploy.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Aws, CfnOutput, CustomResource, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct } from 'constructs';
import { routes, type FunctionName } from '#shared/routes.js';
import { CHUNK_PREFIX, PROBE_PREFIX, TABLE_KEYS } from './contracts.js';
import {
  bindBuckets,
  bindCatalog,
  bindJwtSecret,
  bindReplicator,
  bindTable,
  bucketsEnv,
  EchoFunction,
  REPO_ROOT,
  type ReplicaBuckets,
} from './echo-function.js';
import { chunkBucketName, type EchoSettings } from './settings.js';

export interface CoreStackProps extends StackProps {
  settings: EchoSettings;
  /** Folder with `<name>/handler.ts` for every function (default: the repository's functions/). */
  functionsDir?: string;
}

/** Name of the catalog database inside the cluster. */
export const CATALOG_DATABASE = 'echofs';
/** Interval of the prober's probes inside one scheduled invocation. */
export const PROBE_INTERVAL_MS = 5000;

/** The deployed functions, by role. */
export interface EchoFunctions {
  auth: EchoFunction;
  files: EchoFunction;
  filesStream: EchoFunction;
  controller: EchoFunction;
  prober: EchoFunction;
  replicator: EchoFunction;
  migrate: EchoFunction;
}

export class CoreStack extends Stack {
  readonly api: apigwv2.HttpApi;
  readonly downloadUrl: lambda.FunctionUrl;
  readonly functions: EchoFunctions;
  readonly table: dynamodb.Table;
  readonly cluster: rds.DatabaseCluster;
  readonly jwtSecret: secretsmanager.Secret;
  readonly catalogSecret: rds.DatabaseSecret;
  readonly replicas: ReplicaBuckets;

  constructor(scope: Construct, id: string, props: CoreStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const functionsDir = props.functionsDir ?? path.join(REPO_ROOT, 'functions');
    const retain = settings.removalPolicy === RemovalPolicy.RETAIN;

    // ---- replicas: deterministic names, so no cross-region references are needed
    const replicas: ReplicaBuckets = { regions: settings.regions, buckets: {} };
    for (const region of settings.regions) {
      const bucketName = chunkBucketName(settings.namePrefix, Aws.ACCOUNT_ID, region);
      replicas.buckets[region] = s3.Bucket.fromBucketAttributes(this, `Chunks-${region}`, {
        bucketName,
        bucketArn: `arn:${Aws.PARTITION}:s3:::${bucketName}`,
        region,
      });
    }
    this.replicas = replicas;

    // ---- catalog: Aurora PostgreSQL Serverless v2, reached only through the Data API
    const vpc = new ec2.Vpc(this, 'CatalogVpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'catalog', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
      flowLogs: {
        rejected: {
          trafficType: ec2.FlowLogTrafficType.REJECT,
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'CatalogVpcFlowLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY }),
          ),
        },
      },
    });
    // Generated credentials, kept as long as the data when the cluster is retained (as a snapshot).
    const catalogSecret = new rds.DatabaseSecret(this, 'CatalogCredentials', { username: 'echofs_admin' });
    catalogSecret.applyRemovalPolicy(settings.removalPolicy);
    this.catalogSecret = catalogSecret;
    this.cluster = new rds.DatabaseCluster(this, 'Catalog', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({ version: rds.AuroraPostgresEngineVersion.VER_16_8 }),
      writer: rds.ClusterInstance.serverlessV2('writer', { publiclyAccessible: false, autoMinorVersionUpgrade: true }),
      serverlessV2MinCapacity: 0.5,
      serverlessV2MaxCapacity: 8,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_ISOLATED },
      credentials: rds.Credentials.fromSecret(catalogSecret),
      defaultDatabaseName: CATALOG_DATABASE,
      enableDataApi: true,
      storageEncrypted: true,
      iamAuthentication: true,
      deletionProtection: retain,
      removalPolicy: retain ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
      backup: { retention: Duration.days(7) },
    });

    // ---- controller state and audit log
    this.table = new dynamodb.Table(this, 'ControllerTable', {
      partitionKey: { name: TABLE_KEYS.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE_KEYS.ttlAttribute,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      deletionProtection: retain,
      removalPolicy: settings.removalPolicy,
    });

    // ---- JWT signing secret, generated once by Secrets Manager
    this.jwtSecret = new secretsmanager.Secret(this, 'JwtSecret', {
      description: 'EchoFS JWT signing secret',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: settings.removalPolicy,
    });

    // ---- functions
    const environment: Record<string, string> = {
      ...settings.environment,
      ECHOFS_STAGE: 'cloud',
      ECHOFS_REGIONS: settings.regions.join(','),
      // Every function validates its config at cold start and needs the bucket map, even those
      // that never touch a bucket (they get no S3 permission).
      ECHOFS_BUCKETS: bucketsEnv(this, replicas),
      ECHOFS_ADMIN_EMAILS: settings.adminEmails.join(','),
      ECHOFS_PROBE_INTERVAL_MS: String(PROBE_INTERVAL_MS),
    };
    const logRemovalPolicy = settings.removalPolicy;
    const make = (cid: string, name: string, extra: Partial<ConstructorParameters<typeof EchoFunction>[2]> = {}) =>
      new EchoFunction(this, cid, { functionsDir, name, environment, logRemovalPolicy, ...extra });

    const auth = make('Auth', 'auth', { description: 'EchoFS accounts and tokens' });
    const files = make('Files', 'files', { memorySize: 1024, description: 'EchoFS files API' });
    const filesStream = make('FilesStream', 'files', {
      handler: 'streamHandler',
      memorySize: 1024,
      timeout: Duration.minutes(5),
      description: 'EchoFS streamed downloads (Function URL)',
    });
    const controller = make('Controller', 'controller', { description: 'EchoFS consistency controller API' });
    const prober = make('Prober', 'prober', {
      memorySize: 256,
      // One invocation a minute probes every PROBE_INTERVAL_MS until just before the next one.
      timeout: Duration.seconds(70),
      description: 'EchoFS replica prober (scheduled)',
    });
    const replicator = make('Replicator', 'replicator', {
      memorySize: 1024,
      timeout: Duration.minutes(10),
      description: 'EchoFS replication drain, anti-entropy sweep and garbage collection',
    });
    const migrate = make('Migrate', 'migrate', { timeout: Duration.minutes(5), description: 'EchoFS catalog migrations (deploy time)' });
    this.functions = { auth, files, filesStream, controller, prober, replicator, migrate };

    // ---- access: each function gets exactly what it uses
    bindCatalog(auth, this.cluster, CATALOG_DATABASE);
    bindJwtSecret(auth, this.jwtSecret);

    for (const fn of [files, filesStream]) {
      bindCatalog(fn, this.cluster, CATALOG_DATABASE);
      bindJwtSecret(fn, this.jwtSecret);
      bindBuckets(fn, replicas, 'readWrite', CHUNK_PREFIX);
      bindTable(fn, this.table, 'read');
      bindReplicator(fn, replicator);
    }

    bindTable(controller, this.table, 'readWrite');
    bindCatalog(controller, this.cluster, CATALOG_DATABASE);
    bindJwtSecret(controller, this.jwtSecret);

    bindBuckets(prober, replicas, 'probe', PROBE_PREFIX);
    bindTable(prober, this.table, 'readWrite');
    bindCatalog(prober, this.cluster, CATALOG_DATABASE);

    bindBuckets(replicator, replicas, 'readWriteDelete', CHUNK_PREFIX);
    bindCatalog(replicator, this.cluster, CATALOG_DATABASE);
    bindTable(replicator, this.table, 'read');

    // The scheduled functions (prober, replicator) authenticate nothing: without JWT_SECRET_ARN the
    // service container gives them a random key of their own, so they get no access to the secret.

    bindCatalog(migrate, this.cluster, CATALOG_DATABASE);

    // ---- HTTP API, generated from the route table (route auth happens inside the functions)
    const apiLogs = new logs.LogGroup(this, 'ApiAccessLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: logRemovalPolicy });
    this.api = new apigwv2.HttpApi(this, 'Api', {
      apiName: `${settings.namePrefix}-api`,
      description: 'EchoFS HTTP API',
      createDefaultStage: false,
    });
    this.api.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      accessLogSettings: { destination: new apigwv2.LogGroupLogDestination(apiLogs) },
      throttle: { rateLimit: 500, burstLimit: 1000 },
    });
    const handlers: Partial<Record<FunctionName, lambda.IFunction>> = { auth, files, controller };
    const integrations = new Map<FunctionName, HttpLambdaIntegration>();
    for (const route of routes) {
      if (route.localOnly) continue;
      const fn = handlers[route.fn];
      if (!fn) throw new Error(`Route ${route.method} ${route.path} names function '${route.fn}', which the cloud does not deploy`);
      let integration = integrations.get(route.fn);
      if (!integration) {
        integration = new HttpLambdaIntegration(`${route.fn}Integration`, fn, {
          payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
          scopePermissionToRoute: false,
        });
        integrations.set(route.fn, integration);
      }
      this.api.addRoutes({ path: route.path, methods: [apigwv2.HttpMethod[route.method]], integration });
    }

    // ---- large downloads: a streamed response through a Function URL (HTTP APIs cannot stream)
    this.downloadUrl = filesStream.addFunctionUrl({
      // Reached through CloudFront (same origin as the web app); no CORS needed.
      // The function checks the bearer token itself, exactly like the API routes.
      authType: lambda.FunctionUrlAuthType.NONE,
      invokeMode: lambda.InvokeMode.RESPONSE_STREAM,
    });

    // ---- schedules
    const every = (cid: string, rate: Duration, fn: lambda.IFunction, input: Record<string, unknown>, description: string) =>
      new scheduler.Schedule(this, cid, {
        schedule: scheduler.ScheduleExpression.rate(rate),
        target: new schedulerTargets.LambdaInvoke(fn, { input: scheduler.ScheduleTargetInput.fromObject(input), retryAttempts: 0 }),
        description,
      });
    every('ProbeSchedule', Duration.minutes(1), prober, { task: 'probe' }, 'EchoFS: probe every replica (sub-minute probes inside the invocation)');
    every('DrainSchedule', Duration.minutes(1), replicator, { task: 'drain' }, 'EchoFS: drain the replication backlog');
    every('SweepSchedule', Duration.hours(1), replicator, { task: 'sweep' }, 'EchoFS: anti-entropy sweep');
    every('GcSchedule', Duration.days(1), replicator, { task: 'gc' }, 'EchoFS: garbage-collect unreferenced chunks');

    // ---- catalog migrations on every deploy (re-run when the migration list changes)
    const provider = new cr.Provider(this, 'MigrationsProvider', {
      onEventHandler: migrate,
      logGroup: new logs.LogGroup(this, 'MigrationsProviderLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY }),
    });
    const migrations = new CustomResource(this, 'CatalogMigrations', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::EchoFSMigrations',
      properties: { Database: CATALOG_DATABASE, MigrationsHash: migrationsHash() },
    });
    migrations.node.addDependency(this.cluster);

    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint, description: 'HTTP API endpoint' });
    new CfnOutput(this, 'DownloadUrl', { value: this.downloadUrl.url, description: 'Streaming download Function URL' });
    new CfnOutput(this, 'ControllerTableName', { value: this.table.tableName });
    new CfnOutput(this, 'CatalogClusterArn', { value: this.cluster.clusterArn });
    new CfnOutput(this, 'CatalogSecretArn', { value: this.cluster.secret?.secretArn ?? '' });
    new CfnOutput(this, 'JwtSecretArn', { value: this.jwtSecret.secretArn });
    new CfnOutput(this, 'ApiHost', { value: apiHost(this.api), description: 'HTTP API host name (CloudFront origin)' });
  }
}

/** The host name of an HTTP API endpoint (https://<id>.execute-api.<region>.amazonaws.com). */
export function apiHost(api: apigwv2.IHttpApi): string {
  return Fn.select(2, Fn.split('/', api.apiEndpoint));
}

/** Hash of the migration list, so a change in it re-runs the migrations custom resource. */
function migrationsHash(): string {
  const file = path.join(REPO_ROOT, 'shared', 'catalog', 'migrations.ts');
  const h = createHash('sha256');
  h.update(existsSync(file) ? readFileSync(file) : 'no migrations');
  return h.digest('hex').slice(0, 16);
}
