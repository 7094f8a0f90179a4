/**
 * What CloudFormation would make of the synthesized templates, offline: a physical id for each
 * resource, the intrinsic functions resolved (Ref, Fn::GetAtt, Fn::Join, Fn::Select, Fn::Split,
 * Fn::Sub), the secrets' generated values, and from them each function's exact environment, the
 * API routes, the Function URL, the schedules and the custom resources. Anything it cannot resolve
 * fails loudly, naming the resource and the value.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Assembly, CfnResource, CfnTemplate } from './assembly.js';
import type { FunctionSpec } from './containers.js';
import type { EmulatedSecret } from '#emulators/secrets-manager.js';

export const ACCOUNT_ID = '123456789012';
const PARTITION = 'aws';

export interface Route {
  method: string;
  path: string;
  fn: string;
}

export interface Schedule {
  logicalId: string;
  fn: string;
  input: string;
  expression: string;
}

export interface Deployment {
  coreStack: string;
  region: string;
  functions: Record<string, FunctionSpec>;
  routes: Route[];
  functionUrl?: { fn: string; invokeMode: string; authType: string };
  schedules: Schedule[];
  /** Custom resources and the function the Provider framework hands their events to. */
  customResources: { logicalId: string; type: string; fn: string; properties: Record<string, unknown> }[];
  secrets: EmulatedSecret[];
  /** ARN of the secret attached to the catalog cluster (its master user), if any. */
  masterSecret?: string;
  tables: { name: string; properties: Record<string, unknown> }[];
  /** region -> bucket name (from the replica stacks). */
  buckets: Record<string, string>;
  clusterArns: string[];
  /** Custom resources the harness does not run (not served by one of the app's functions). */
  notEmulated: string[];
  /** Resolve a name or ARN to a function logical id. */
  functionByNameOrArn(id: string): string | undefined;
}

const rand = (n: number) => randomBytes(n).toString('hex').toUpperCase().slice(0, n);

class StackResolver {
  private physical = new Map<string, string>();
  constructor(
    readonly name: string,
    readonly region: string,
    readonly template: CfnTemplate,
  ) {}

  resource(id: string): CfnResource {
    const r = this.template.Resources[id];
    if (!r) throw new Error(`${this.name}: no resource ${id}`);
    return r;
  }

  ref(id: string): string {
    const pseudo: Record<string, string> = {
      'AWS::AccountId': ACCOUNT_ID,
      'AWS::Region': this.region,
      'AWS::Partition': PARTITION,
      'AWS::URLSuffix': 'amazonaws.com',
      'AWS::StackName': this.name,
      'AWS::StackId': `arn:${PARTITION}:cloudformation:${this.region}:${ACCOUNT_ID}:stack/${this.name}/00000000-0000-4000-8000-000000000000`,
      'AWS::NoValue': '',
    };
    if (id in pseudo) return pseudo[id] as string;
    const known = this.physical.get(id);
    if (known) return known;
    const r = this.resource(id);
    const p = r.Properties ?? {};
    const short = `${this.name}-${id.slice(0, 30)}-${rand(12)}`;
    let v: string;
    switch (r.Type) {
      case 'AWS::Lambda::Function':
        v = typeof p.FunctionName === 'string' ? p.FunctionName : short.slice(0, 64);
        break;
      case 'AWS::DynamoDB::Table':
        v = typeof p.TableName === 'string' ? p.TableName : short;
        break;
      case 'AWS::S3::Bucket':
        v = p.BucketName !== undefined ? this.resolve(p.BucketName, `${id}.BucketName`) : short.toLowerCase().slice(0, 63);
        break;
      case 'AWS::SecretsManager::Secret':
        v = `arn:${PARTITION}:secretsmanager:${this.region}:${ACCOUNT_ID}:secret:${id}-${rand(12)}-${rand(6)}`;
        break;
      case 'AWS::SecretsManager::SecretTargetAttachment':
        v = this.resolve(p.SecretId, `${id}.SecretId`);
        break;
      case 'AWS::RDS::DBCluster':
        v = short.toLowerCase();
        break;
      default:
        v = short;
    }
    this.physical.set(id, v);
    return v;
  }

  getAtt(id: string, attr: string): string {
    const r = this.resource(id);
    const arnOf: Record<string, (name: string) => string> = {
      'AWS::Lambda::Function': (n) => `arn:${PARTITION}:lambda:${this.region}:${ACCOUNT_ID}:function:${n}`,
      'AWS::DynamoDB::Table': (n) => `arn:${PARTITION}:dynamodb:${this.region}:${ACCOUNT_ID}:table/${n}`,
      'AWS::S3::Bucket': (n) => `arn:${PARTITION}:s3:::${n}`,
      'AWS::IAM::Role': (n) => `arn:${PARTITION}:iam::${ACCOUNT_ID}:role/${n}`,
      'AWS::RDS::DBCluster': (n) => `arn:${PARTITION}:rds:${this.region}:${ACCOUNT_ID}:cluster:${n}`,
    };
    if (attr === 'Arn') {
      const f = arnOf[r.Type];
      if (f) return f(this.ref(id));
      return `arn:${PARTITION}:${r.Type.split('::')[1]?.toLowerCase()}:${this.region}:${ACCOUNT_ID}:${this.ref(id)}`;
    }
    if (r.Type === 'AWS::Lambda::Url' && attr === 'FunctionUrl') return `https://${rand(32).toLowerCase()}.lambda-url.${this.region}.on.aws/`;
    if (r.Type === 'AWS::RDS::DBCluster' && attr === 'Endpoint.Address') return `${this.ref(id)}.cluster-x.${this.region}.rds.amazonaws.com`;
    if (r.Type === 'AWS::RDS::DBCluster' && attr === 'Endpoint.Port') return '5432';
    if (r.Type === 'AWS::ApiGatewayV2::Api' && attr === 'ApiEndpoint') return `https://${this.ref(id)}.execute-api.${this.region}.amazonaws.com`;
    throw new Error(`${this.name}: cannot resolve Fn::GetAtt ${id}.${attr} (${r.Type})`);
  }

  resolve(v: unknown, where: string): string {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const [[fn, arg]] = Object.entries(v) as [[string, unknown]];
      if (fn === 'Ref') return this.ref(String(arg));
      if (fn === 'Fn::GetAtt') {
        const [id, attr] = Array.isArray(arg) ? (arg as string[]) : String(arg).split('.');
        return this.getAtt(String(id), String(attr));
      }
      if (fn === 'Fn::Join') {
        const [sep, parts] = arg as [string, unknown[]];
        return parts.map((p) => this.resolve(p, where)).join(sep);
      }
      if (fn === 'Fn::Select') {
        const [i, list] = arg as [number | string, unknown];
        const items = this.list(list, where);
        return items[Number(i)] ?? '';
      }
      if (fn === 'Fn::Sub' && typeof arg === 'string') {
        return arg.replace(/\$\{([^}]+)\}/g, (_m, name: string) => (name.includes('.') ? this.getAtt(name.split('.')[0] as string, name.split('.').slice(1).join('.')) : this.ref(name)));
      }
    }
    throw new Error(`${this.name}: cannot resolve ${where}: ${JSON.stringify(v)}`);
  }

  private list(v: unknown, where: string): string[] {
    if (Array.isArray(v)) return v.map((x) => this.resolve(x, where));
    const o = v as Record<string, unknown>;
    if (o && 'Fn::Split' in o) {
      const [sep, s] = o['Fn::Split'] as [string, unknown];
      return this.resolve(s, where).split(sep);
    }
    throw new Error(`${this.name}: cannot resolve a list at ${where}: ${JSON.stringify(v)}`);
  }

  byType(type: string): [string, CfnResource][] {
    return Object.entries(this.template.Resources).filter(([, r]) => r.Type === type);
  }

  /** The logical id a Fn::GetAtt [id, Arn] / Ref names. */
  static target(v: unknown): string | undefined {
    const o = v as Record<string, unknown> | undefined;
    if (!o) return undefined;
    if (typeof o.Ref === 'string') return o.Ref;
    const ga = o['Fn::GetAtt'];
    if (Array.isArray(ga)) return String(ga[0]);
    return undefined;
  }
}

const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

function generate(spec: Record<string, unknown>): string {
  const length = Number(spec.PasswordLength ?? 32);
  const exclude = new Set(`${String(spec.ExcludeCharacters ?? '')}${spec.ExcludePunctuation ? PUNCTUATION : ''}`);
  const alphabet = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789' + PUNCTUATION].filter((c) => !exclude.has(c));
  const bytes = randomBytes(length);
  const password = [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
  if (typeof spec.SecretStringTemplate === 'string' && typeof spec.GenerateStringKey === 'string') {
    return JSON.stringify({ ...(JSON.parse(spec.SecretStringTemplate) as object), [spec.GenerateStringKey]: password });
  }
  return password;
}

/** Resolve the synthesized app into what a deployment would run. */
export function deploy(assembly: Assembly): Deployment {
  const coreStack = Object.keys(assembly.templates).find((n) => n.endsWith('-core'));
  if (!coreStack) throw new Error('the app has no core stack');
  const region = assembly.regions[coreStack] ?? 'us-east-1';
  const core = new StackResolver(coreStack, region, assembly.templates[coreStack] as CfnTemplate);

  const buckets: Record<string, string> = {};
  for (const [name, t] of Object.entries(assembly.templates)) {
    if (!name.includes('-replica-')) continue;
    const r = new StackResolver(name, assembly.regions[name] ?? '', t);
    for (const [id] of r.byType('AWS::S3::Bucket')) {
      if (/log/i.test(id)) continue;
      buckets[r.region] = r.ref(id);
    }
  }

  // Secrets: generated values, plus what an attachment to a cluster adds.
  const secrets: EmulatedSecret[] = [];
  const values = new Map<string, string>();
  let masterSecret: string | undefined;
  for (const [id, r] of core.byType('AWS::SecretsManager::Secret')) {
    const p = r.Properties ?? {};
    const value = p.SecretString !== undefined ? core.resolve(p.SecretString, `${id}.SecretString`) : generate((p.GenerateSecretString as Record<string, unknown>) ?? {});
    values.set(id, value);
  }
  for (const [id, r] of core.byType('AWS::SecretsManager::SecretTargetAttachment')) {
    const secretId = StackResolver.target(r.Properties?.SecretId);
    const cluster = StackResolver.target(r.Properties?.TargetId);
    if (!secretId || !cluster) throw new Error(`${id}: unexpected attachment`);
    const v = JSON.parse(values.get(secretId) ?? '{}') as Record<string, unknown>;
    values.set(secretId, JSON.stringify({ ...v, engine: 'postgres', host: core.getAtt(cluster, 'Endpoint.Address'), port: 5432, dbClusterIdentifier: core.ref(cluster) }));
    masterSecret = core.ref(secretId);
  }
  for (const [id, value] of values) secrets.push({ arn: core.ref(id), name: id, value });

  const functions: Record<string, FunctionSpec> = {};
  for (const [id, r] of core.byType('AWS::Lambda::Function')) {
    const p = r.Properties ?? {};
    const assetPath = (r.Metadata?.['aws:asset:path'] as string | undefined) ?? '';
    const assetDir = join(assembly.dir, assetPath);
    const handler = String(p.Handler ?? '');
    // Only the functions built from this repository (an index.mjs bundle); the CDK's own
    // (the custom-resource Provider framework) are emulated by the harness itself.
    if (!assetPath || !existsSync(join(assetDir, 'index.mjs'))) continue;
    const vars = ((p.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>;
    const environment: Record<string, string> = {};
    for (const [k, v] of Object.entries(vars)) environment[k] = core.resolve(v, `${id} environment ${k}`);
    const logging = p.LoggingConfig as { LogFormat?: string } | undefined;
    if (logging?.LogFormat === 'JSON') environment.AWS_LAMBDA_LOG_FORMAT = 'JSON';
    functions[id] = {
      logicalId: id,
      name: core.ref(id),
      arn: core.getAtt(id, 'Arn'),
      assetDir,
      handler,
      memoryMb: Number(p.MemorySize ?? 128),
      timeoutSeconds: Number(p.Timeout ?? 3),
      environment,
      streaming: false,
    };
  }

  const integrations = new Map<string, string>();
  for (const [id, r] of core.byType('AWS::ApiGatewayV2::Integration')) {
    const fn = StackResolver.target(r.Properties?.IntegrationUri);
    if (fn) integrations.set(id, fn);
  }
  const routes: Route[] = [];
  for (const [id, r] of core.byType('AWS::ApiGatewayV2::Route')) {
    const key = String(r.Properties?.RouteKey ?? '');
    const target = r.Properties?.Target as { 'Fn::Join'?: [string, unknown[]] } | undefined;
    const integration = StackResolver.target(target?.['Fn::Join']?.[1]?.[1]);
    const fn = integration ? integrations.get(integration) : undefined;
    if (!fn) throw new Error(`route ${id} (${key}) has no Lambda integration`);
    const [method, path] = key.split(' ');
    routes.push({ method: String(method), path: String(path), fn });
  }

  let functionUrl: Deployment['functionUrl'];
  for (const [, r] of core.byType('AWS::Lambda::Url')) {
    const fn = StackResolver.target(r.Properties?.TargetFunctionArn);
    if (!fn) continue;
    functionUrl = { fn, invokeMode: String(r.Properties?.InvokeMode ?? 'BUFFERED'), authType: String(r.Properties?.AuthType ?? 'NONE') };
    const spec = functions[fn];
    if (spec) spec.streaming = functionUrl.invokeMode === 'RESPONSE_STREAM';
  }

  const schedules: Schedule[] = core.byType('AWS::Scheduler::Schedule').map(([id, r]) => {
    const t = r.Properties?.Target as { Arn?: unknown; Input?: unknown };
    const fn = StackResolver.target(t?.Arn);
    if (!fn) throw new Error(`schedule ${id} targets no function`);
    return { logicalId: id, fn, input: t.Input === undefined ? '{}' : core.resolve(t.Input, `${id}.Input`), expression: String(r.Properties?.ScheduleExpression ?? '') };
  });

  const customResources: Deployment['customResources'] = [];
  const notEmulated: string[] = [];
  for (const [id, r] of Object.entries(core.template.Resources)) {
    if (!r.Type.startsWith('Custom::') && r.Type !== 'AWS::CloudFormation::CustomResource') continue;
    const provider = StackResolver.target(r.Properties?.ServiceToken);
    const vars = ((core.resource(provider ?? '').Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<string, unknown>;
    const fn = StackResolver.target(vars.USER_ON_EVENT_FUNCTION_ARN);
    // Only custom resources served by this repository's functions through the Provider framework
    // run here; others (the CDK's own SDK-call resources) are listed as not emulated.
    if (!fn || !functions[fn]) {
      notEmulated.push(`${id} (${r.Type})`);
      continue;
    }
    const properties: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r.Properties ?? {})) properties[k] = core.resolve(v, `${id}.${k}`);
    customResources.push({ logicalId: id, type: r.Type, fn, properties });
  }

  const tables = core.byType('AWS::DynamoDB::Table').map(([id, r]) => ({ name: core.ref(id), properties: r.Properties ?? {} }));
  const clusterArns = core.byType('AWS::RDS::DBCluster').map(([id]) => core.getAtt(id, 'Arn'));

  return {
    coreStack,
    region,
    functions,
    routes,
    functionUrl,
    schedules,
    customResources,
    secrets,
    masterSecret,
    tables,
    buckets,
    clusterArns,
    notEmulated,
    functionByNameOrArn(x) {
      return Object.values(functions).find((f) => f.name === x || f.arn === x || f.arn.endsWith(`:${x}`))?.logicalId;
    },
  };
}
