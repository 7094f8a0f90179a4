/**
 * The core of EchoFS in the home region: the HTTP API generated from the shared route table, the
 * functions (each bound to exactly what it uses), the catalog (Aurora PostgreSQL Serverless v2
 * through the Data API, so no Lambda sits in a VPC), the controller table, the JWT secret, the
 * admin bootstrap token, the schedules, and the catalog migrations applied on every deploy.
 *
 * Database users: only the migrate function holds the cluster owner's credentials (DDL); every
 * other function reaches the catalog as the runtime role, whose generated secret it alone may read
 * and which may only read and write rows (shared/catalog/app-role.ts).
 *
 * Teardown and rollback (echofs:removalPolicy=retain): nothing is created with deletion protection,
 * and what must outlive the stack is retained only after the create that made it succeeded
 * (RetainExceptOnCreate), so a failed first deploy rolls back completely. Deletion protection of
 * the catalog and the table is switched on by the stack's last step, once everything else exists.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Aws, CfnOutput, CustomResource, Duration, Fn, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as rds from 'aws-cdk-lib/aws-rds';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as cr from 'aws-cdk-lib/custom-resources';
import type { Construct, IConstruct } from 'constructs';
import { routes, type FunctionName } from '#shared/routes.js';
import { APP_SECRET_VARIABLE, CHUNK_PREFIX, PROBE_PREFIX, TABLE_KEYS } from './contracts.js';
import {
  bindAdminToken,
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
/** Period of the prober's schedule; one invocation probes for at most this long. */
export const PROBE_SCHEDULE = Duration.minutes(1);
/** Database user of the runtime functions (data rights only; created by the migrate function). */
export const CATALOG_APP_USER = 'echofs_app';
/** Database user that owns the catalog (the cluster's master user; used by the migrate function only). */
export const CATALOG_OWNER_USER = 'echofs_admin';
/**
 * How long a throttled asynchronous invocation of a scheduled function may wait for a free slot
 * before Lambda drops it: a probe run or a drain that waited longer is superseded by the next one.
 */
export const PROBER_MAX_EVENT_AGE = Duration.minutes(1);
export const REPLICATOR_MAX_EVENT_AGE = Duration.minutes(15);

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
  /** The admin bootstrap token: becoming an administrator needs it (README, "Administrators"). */
  readonly adminToken: secretsmanager.Secret;
  /** The cluster owner's credentials (DDL): read by the migrate function only. */
  readonly catalogSecret: rds.DatabaseSecret;
  /** The runtime role's credentials (data rights only): read by every other catalog user. */
  readonly catalogAppSecret: rds.DatabaseSecret;
  /** Switch deletion protection on once the stack's first create has succeeded (retain only). */
  readonly deletionProtection: cr.AwsCustomResource[];
  readonly replicas: ReplicaBuckets;

  constructor(scope: Construct, id: string, props: CoreStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const functionsDir = props.functionsDir ?? path.join(REPO_ROOT, 'functions');
    const retain = settings.removalPolicy === RemovalPolicy.RETAIN;
    // Kept on teardown and when an update replaces it, but deleted when the create that made it
    // is rolled back: a failed first deploy leaves nothing behind.
    const keep = retain ? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE : RemovalPolicy.DESTROY;

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
    // Generated credentials of the owner, kept as long as the data when the cluster is retained (as
    // a snapshot): they open a restored snapshot.
    const catalogSecret = new rds.DatabaseSecret(this, 'CatalogCredentials', { username: CATALOG_OWNER_USER });
    catalogSecret.applyRemovalPolicy(keep);
    this.catalogSecret = catalogSecret;
    // The runtime role's password: the migrate function sets it on the role at every deploy, so a
    // new secret (a new stack on a restored snapshot) simply replaces the old password.
    this.catalogAppSecret = new rds.DatabaseSecret(this, 'CatalogAppCredentials', { username: CATALOG_APP_USER });
    this.catalogAppSecret.applyRemovalPolicy(RemovalPolicy.DESTROY);
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
      // Never at creation: a protected cluster cannot be deleted by the rollback of a failed first
      // deploy (ROLLBACK_FAILED). The last step of the stack switches it on (below).
      deletionProtection: false,
      // A final snapshot whenever CloudFormation deletes the cluster (teardown, replacement, or the
      // rollback of a failed first deploy that got as far as creating it).
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
      // Switched on by the stack's last step, like the cluster's.
      deletionProtection: false,
      removalPolicy: keep,
    });

    // ---- JWT signing secret, generated once by Secrets Manager
    this.jwtSecret = new secretsmanager.Secret(this, 'JwtSecret', {
      description: 'EchoFS JWT signing secret',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy: keep,
    });

    // ---- admin bootstrap token, generated once by Secrets Manager. Registering an address of
    // echofs:adminEmails (or claiming the role for its account) needs it, so the first stranger to
    // reach the public API cannot become an administrator. Only the auth function may read it.
    // Nothing depends on it outliving the stack: the administrators are in the catalog.
    this.adminToken = new secretsmanager.Secret(this, 'AdminToken', {
      description: 'EchoFS admin bootstrap token: send it as X-EchoFS-Admin-Token to register or claim an administrator account',
      generateSecretString: { passwordLength: 48, excludePunctuation: true, includeSpace: false },
      removalPolicy: RemovalPolicy.DESTROY,
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
    const logRemovalPolicy = keep;
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
    const appUser = this.catalogAppSecret;
    bindCatalog(auth, this.cluster, CATALOG_DATABASE, appUser);
    bindJwtSecret(auth, this.jwtSecret);
    bindAdminToken(auth, this.adminToken);

    for (const fn of [files, filesStream]) {
      bindCatalog(fn, this.cluster, CATALOG_DATABASE, appUser);
      bindJwtSecret(fn, this.jwtSecret);
      bindBuckets(fn, replicas, 'readWrite', CHUNK_PREFIX);
      bindTable(fn, this.table, 'read');
      bindReplicator(fn, replicator);
    }

    bindTable(controller, this.table, 'readWrite');
    bindCatalog(controller, this.cluster, CATALOG_DATABASE, appUser);
    bindJwtSecret(controller, this.jwtSecret);

    bindBuckets(prober, replicas, 'probe', PROBE_PREFIX);
    bindTable(prober, this.table, 'readWrite');
    bindCatalog(prober, this.cluster, CATALOG_DATABASE, appUser);

    bindBuckets(replicator, replicas, 'readWriteDelete', CHUNK_PREFIX);
    bindCatalog(replicator, this.cluster, CATALOG_DATABASE, appUser);
    bindTable(replicator, this.table, 'read');

    // The scheduled functions (prober, replicator) authenticate nothing: without JWT_SECRET_ARN the
    // service container gives them a random key of their own, so they get no access to the secret.

    // The owner (DDL), and the runtime role's secret, whose password it sets on the role.
    bindCatalog(migrate, this.cluster, CATALOG_DATABASE, catalogSecret);
    migrate.addEnvironment(APP_SECRET_VARIABLE, appUser.secretArn);
    appUser.grantRead(migrate);

    // ---- concurrency of the scheduled functions
    // The prober runs alone: one reserved slot, and each run ends within the schedule's period
    // (INVOCATION_BUDGET_MS), so the next scheduled run waits for it instead of overlapping; a
    // throttled run older than a period is dropped (the one after it is already queued).
    // The replicator's slots bound the load its drains, kicks, sweeps and collections put on the
    // catalog and the buckets.
    if (settings.reservedConcurrency) {
      reserveConcurrency(prober, 1);
      reserveConcurrency(replicator, settings.replicatorConcurrency);
    }
    prober.configureAsyncInvoke({ maxEventAge: PROBER_MAX_EVENT_AGE, retryAttempts: 0 });
    replicator.configureAsyncInvoke({ maxEventAge: REPLICATOR_MAX_EVENT_AGE, retryAttempts: 0 });

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
      // Not public: only the web stack's CloudFront distribution may invoke it, signing each request
      // with SigV4 through origin access control (the web stack grants it). The user's bearer token
      // travels in X-EchoFS-Authorization, since Authorization carries CloudFront's signature; the
      // function checks it exactly like the API routes. Same origin as the web app: no CORS.
      authType: lambda.FunctionUrlAuthType.AWS_IAM,
      invokeMode: lambda.InvokeMode.RESPONSE_STREAM,
    });

    // ---- schedules
    const every = (cid: string, rate: Duration, fn: lambda.IFunction, input: Record<string, unknown>, description: string) =>
      new scheduler.Schedule(this, cid, {
        schedule: scheduler.ScheduleExpression.rate(rate),
        target: new schedulerTargets.LambdaInvoke(fn, { input: scheduler.ScheduleTargetInput.fromObject(input), retryAttempts: 0 }),
        description,
      });
    const schedules = [
      every('ProbeSchedule', PROBE_SCHEDULE, prober, { task: 'probe' }, 'EchoFS: probe every replica (sub-minute probes inside the invocation)'),
      every('DrainSchedule', Duration.minutes(1), replicator, { task: 'drain' }, 'EchoFS: drain the replication backlog'),
      every('SweepSchedule', Duration.hours(1), replicator, { task: 'sweep' }, 'EchoFS: anti-entropy sweep'),
      every('GcSchedule', Duration.days(1), replicator, { task: 'gc' }, 'EchoFS: garbage-collect unreferenced chunks'),
    ];

    // ---- catalog migrations on every deploy (re-run when the migration list changes)
    const provider = new cr.Provider(this, 'MigrationsProvider', {
      onEventHandler: migrate,
      logGroup: new logs.LogGroup(this, 'MigrationsProviderLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY }),
    });
    const migrations = new CustomResource(this, 'CatalogMigrations', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::EchoFSMigrations',
      // A new migration, a change to the runtime role's grants or a new role secret re-runs it.
      properties: { Database: CATALOG_DATABASE, MigrationsHash: migrationsHash(), AppSecret: appUser.secretArn },
    });
    migrations.node.addDependency(this.cluster);
    // Scheduled runs start once the catalog and the runtime role exist.
    for (const schedule of schedules) schedule.node.addDependency(migrations);

    // ---- deletion protection, switched on by the stack's last step (retain only)
    this.deletionProtection = retain ? this.protectAfterCreate() : [];

    new CfnOutput(this, 'ApiUrl', { value: this.api.apiEndpoint, description: 'HTTP API endpoint' });
    new CfnOutput(this, 'DownloadUrl', { value: this.downloadUrl.url, description: 'Streaming download Function URL' });
    new CfnOutput(this, 'ControllerTableName', { value: this.table.tableName });
    new CfnOutput(this, 'CatalogClusterArn', { value: this.cluster.clusterArn });
    new CfnOutput(this, 'CatalogSecretArn', { value: catalogSecret.secretArn, description: 'Catalog owner credentials (migrations, administration)' });
    new CfnOutput(this, 'CatalogAppSecretArn', { value: appUser.secretArn, description: 'Catalog runtime role credentials (data rights only)' });
    new CfnOutput(this, 'JwtSecretArn', { value: this.jwtSecret.secretArn });
    new CfnOutput(this, 'AdminTokenSecretArn', {
      value: this.adminToken.secretArn,
      description: 'Admin bootstrap token (aws secretsmanager get-secret-value --secret-id <this> --query SecretString --output text)',
    });
    new CfnOutput(this, 'ApiHost', { value: apiHost(this.api), description: 'HTTP API host name (CloudFront origin)' });
  }

  /**
   * Two SDK calls as custom resources that CloudFormation creates after every other resource of
   * this stack: they switch on deletion protection of the catalog cluster and the controller
   * table. A create that fails anywhere else never reaches them, so its rollback finds nothing
   * protected; once they ran, nothing is left to fail. Deleting them (teardown) switches the
   * cluster's protection off again, so that CloudFormation can take its final snapshot and delete
   * it; the retained table keeps its protection.
   */
  private protectAfterCreate(): cr.AwsCustomResource[] {
    const logGroup = new logs.LogGroup(this, 'DeletionProtectionLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    const modifyCluster = (on: boolean): cr.AwsSdkCall => ({
      service: 'RDS',
      action: 'modifyDBCluster',
      parameters: { DBClusterIdentifier: this.cluster.clusterIdentifier, DeletionProtection: on, ApplyImmediately: true },
      physicalResourceId: cr.PhysicalResourceId.of('echofs-catalog-deletion-protection'),
    });
    const catalog = new cr.AwsCustomResource(this, 'CatalogDeletionProtection', {
      resourceType: 'Custom::EchoFSDeletionProtection',
      onCreate: modifyCluster(true),
      onUpdate: modifyCluster(true),
      onDelete: modifyCluster(false),
      policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({ actions: ['rds:ModifyDBCluster'], resources: [this.cluster.clusterArn] })]),
      installLatestAwsSdk: false,
      logGroup,
    });
    const updateTable: cr.AwsSdkCall = {
      service: 'DynamoDB',
      action: 'updateTable',
      parameters: { TableName: this.table.tableName, DeletionProtectionEnabled: true },
      physicalResourceId: cr.PhysicalResourceId.of('echofs-table-deletion-protection'),
    };
    const table = new cr.AwsCustomResource(this, 'TableDeletionProtection', {
      resourceType: 'Custom::EchoFSDeletionProtection',
      onCreate: updateTable,
      onUpdate: updateTable,
      policy: cr.AwsCustomResourcePolicy.fromStatements([new iam.PolicyStatement({ actions: ['dynamodb:UpdateTable'], resources: [this.table.tableArn] })]),
      installLatestAwsSdk: false,
      logGroup,
    });
    const last: IConstruct[] = [catalog, table];
    for (const child of this.node.children) {
      if (last.includes(child)) continue;
      for (const step of last) step.node.addDependency(child);
    }
    return [catalog, table];
  }
}

/**
 * Reserve `n` concurrent executions for `fn` (the L1 property: EchoFunction takes no such prop).
 */
function reserveConcurrency(fn: lambda.Function, n: number): void {
  (fn.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = n;
}

/** The host name of an HTTP API endpoint (https://<id>.execute-api.<region>.amazonaws.com). */
export function apiHost(api: apigwv2.IHttpApi): string {
  return Fn.select(2, Fn.split('/', api.apiEndpoint));
}

/**
 * Hash of the migration list and the runtime role's grants, so a change in either re-runs the
 * migrations custom resource.
 */
function migrationsHash(): string {
  const h = createHash('sha256');
  for (const name of ['migrations.ts', 'app-role.ts']) {
    const file = path.join(REPO_ROOT, 'shared', 'catalog', name);
    h.update(existsSync(file) ? readFileSync(file) : `no ${name}`);
  }
  return h.digest('hex').slice(0, 16);
}
