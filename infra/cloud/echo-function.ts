/**
 * EchoFunction: a NodejsFunction with the EchoFS runtime defaults (Node 22, arm64, the bundling
 * of bundling.ts, an explicit log group with retention), and the `bind*` helpers
 * that set a function's configuration and grant its access in one call, so that what a function
 * may touch never drifts from what it is told to use.
 */
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, type NodejsFunctionProps } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as rds from 'aws-cdk-lib/aws-rds';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { BUNDLING, FUNCTION_ARCHITECTURE, FUNCTION_BASE_ENVIRONMENT, FUNCTION_RUNTIME } from './bundling.js';

export interface EchoFunctionProps {
  /** Folder holding `<name>/handler.ts` (the repository's `functions/`). */
  functionsDir: string;
  /** Function folder name: auth, files, controller, prober, replicator, migrate. */
  name: string;
  /** Exported handler name (default `handler`). */
  handler?: string;
  /** Environment every EchoFS function shares (stage, regions, bucket names). */
  environment: Record<string, string>;
  memorySize?: number;
  timeout?: Duration;
  description?: string;
  /** Log retention (default one month). */
  logRetention?: logs.RetentionDays;
  logRemovalPolicy?: RemovalPolicy;
}

/** Repository root (where package.json and package-lock.json are). */
export const REPO_ROOT = path.resolve(import.meta.dirname, '..', '..');

function isInside(file: string, dir: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

function commonAncestor(a: string, b: string): string {
  let dir = path.dirname(a);
  while (!isInside(b, dir) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

export class EchoFunction extends NodejsFunction {
  readonly echoName: string;
  readonly logGroupRef: logs.LogGroup;

  constructor(scope: Construct, id: string, props: EchoFunctionProps) {
    const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.DESTROY,
    });
    const entry = path.join(props.functionsDir, props.name, 'handler.ts');
    const fnProps: NodejsFunctionProps = {
      entry,
      handler: props.handler ?? 'handler',
      // esbuild runs from the repository root; for a functions folder elsewhere (template tests
      // with stand-in entries) the root is the nearest folder holding both.
      projectRoot: isInside(entry, REPO_ROOT) ? REPO_ROOT : commonAncestor(entry, REPO_ROOT),
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      runtime: FUNCTION_RUNTIME,
      architecture: FUNCTION_ARCHITECTURE,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(29),
      description: props.description,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: { ...props.environment, ...FUNCTION_BASE_ENVIRONMENT },
      bundling: BUNDLING,
    };
    super(scope, id, fnProps);
    this.echoName = props.name;
    this.logGroupRef = logGroup;
  }
}

/** Bucket names and ARNs of every replica, by region. */
export interface ReplicaBuckets {
  regions: string[];
  /** region -> bucket */
  buckets: Record<string, s3.IBucket>;
}

/** The RDS Data API's statement and transaction actions. */
const DATA_API_ACTIONS = ['rds-data:BatchExecuteStatement', 'rds-data:BeginTransaction', 'rds-data:CommitTransaction', 'rds-data:ExecuteStatement', 'rds-data:RollbackTransaction'];

/**
 * Catalog: the Aurora cluster reached through the RDS Data API as the database user whose
 * credentials `secret` holds (the runtime role, or the owner for the migrate function).
 */
export function bindCatalog(fn: lambda.Function, cluster: rds.DatabaseCluster, databaseName: string, secret: secretsmanager.ISecret): void {
  fn.addEnvironment('ECHOFS_DB_CLUSTER_ARN', cluster.clusterArn);
  fn.addEnvironment('ECHOFS_DB_SECRET_ARN', secret.secretArn);
  fn.addEnvironment('ECHOFS_DB_NAME', databaseName);
  // The Data API actions on this cluster only, and read access to this user's secret alone
  // (cluster.grantDataApiAccess would also grant the owner's).
  iam.Grant.addToPrincipal({ grantee: fn, actions: DATA_API_ACTIONS, resourceArns: [cluster.clusterArn] });
  secret.grantRead(fn);
}

/** The JWT signing secret (read only). */
export function bindJwtSecret(fn: lambda.Function, secret: secretsmanager.ISecret): void {
  fn.addEnvironment('JWT_SECRET_ARN', secret.secretArn);
  secret.grantRead(fn);
}

/** The admin bootstrap token (read only): for the auth function alone, which grants the admin role. */
export function bindAdminToken(fn: lambda.Function, secret: secretsmanager.ISecret): void {
  fn.addEnvironment('ECHOFS_ADMIN_TOKEN_ARN', secret.secretArn);
  secret.grantRead(fn);
}

/** The controller table: 'read' (mode lookups, health) or 'readWrite' (decisions, probes, audit). */
export function bindTable(fn: lambda.Function, table: dynamodb.ITable, access: 'read' | 'readWrite'): void {
  fn.addEnvironment('ECHOFS_TABLE', table.tableName);
  if (access === 'read') table.grantReadData(fn);
  else table.grantReadWriteData(fn);
}

const BUCKET_ACCESS = {
  /** The data path: read and write chunks (HEAD for existence needs ListBucket to see a 404). */
  readWrite: { objects: ['s3:GetObject', 's3:PutObject'], list: true },
  /** Replication repair, anti-entropy and garbage collection: also delete and list. */
  readWriteDelete: { objects: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], list: true },
  /** The prober: write and read back its own small objects, nothing else. */
  probe: { objects: ['s3:GetObject', 's3:PutObject'], list: false },
} as const;

/**
 * The chunk buckets of every region, limited to the keys under `prefix` (`chunks/` for the data
 * path, `probe/` for the prober).
 */
export function bindBuckets(fn: lambda.Function, replicas: ReplicaBuckets, access: keyof typeof BUCKET_ACCESS, prefix: string): void {
  const { objects, list } = BUCKET_ACCESS[access];
  const buckets = replicas.regions.map((region) => {
    const bucket = replicas.buckets[region];
    if (!bucket) throw new Error(`No chunk bucket for region ${region}`);
    return bucket;
  });
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: [...objects], resources: buckets.map((b) => b.arnForObjects(`${prefix}*`)) }));
  if (list) fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: buckets.map((b) => b.bucketArn) }));
}

/** Lets `fn` kick the replicator (asynchronous invoke) after a write. */
export function bindReplicator(fn: lambda.Function, replicator: lambda.IFunction): void {
  fn.addEnvironment('ECHOFS_REPLICATOR_FUNCTION', replicator.functionName);
  replicator.grantInvoke(fn);
}

/** The JSON map region -> bucket name, as ECHOFS_BUCKETS expects it (tokens resolved at deploy). */
export function bucketsEnv(scope: Construct, replicas: ReplicaBuckets): string {
  return Stack.of(scope).toJsonString(Object.fromEntries(replicas.regions.map((r) => [r, replicas.buckets[r]?.bucketName])));
}
