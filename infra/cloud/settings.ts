/**
 * Deployment settings, read from cdk.json context (or `-c key=value` on the command line).
 *
 * | context key            | default                                   | meaning                                              |
 * |------------------------|-------------------------------------------|------------------------------------------------------|
 * | echofs:regions         | us-east-1, eu-west-1, ap-southeast-1      | replica regions (one chunk bucket each)              |
 * | echofs:homeRegion      | the first region                          | where the API, functions, catalog and web app live   |
 * | echofs:namePrefix      | echofs                                    | prefix of stack and bucket names                     |
 * | echofs:removalPolicy   | retain                                    | retain or destroy buckets, table, catalog on teardown |
 * | echofs:domainName      | (none)                                    | custom domain for CloudFront (needs certificateArn)  |
 * | echofs:certificateArn  | (none)                                    | ACM certificate in us-east-1 for echofs:domainName   |
 * | echofs:adminEmails     | (none)                                    | comma list of accounts that are administrators       |
 * | echofs:accessLogs      | false                                     | S3 server access logs and CloudFront standard logs   |
 * | echofs:alarmEmail      | (none)                                    | e-mail subscribed to the alarm topic                 |
 * | echofs:maxLagSeconds   | 300                                       | replication-lag alarm bound                          |
 * | echofs:environment     | {}                                        | extra ECHOFS_* variables for every function (tuning) |
 * | echofs:reservedConcurrency | true                                  | reserve concurrency: prober 1, replicator below      |
 * | echofs:replicatorConcurrency | 2                                   | reserved concurrency of the replicator (1-20)        |
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import type { Node } from 'constructs';

export interface EchoSettings {
  regions: string[];
  homeRegion: string;
  namePrefix: string;
  removalPolicy: RemovalPolicy;
  domainName?: string;
  certificateArn?: string;
  adminEmails: string[];
  accessLogs: boolean;
  alarmEmail?: string;
  maxLagSeconds: number;
  /** Extra ECHOFS_* variables for every function (controller tuning, ECHOFS_MODE, ...). */
  environment: Record<string, string>;
  /**
   * Reserve concurrency for the scheduled functions (prober 1, replicator `replicatorConcurrency`).
   * Off only for accounts whose Lambda concurrency quota leaves no room to reserve (new accounts).
   */
  reservedConcurrency: boolean;
  /** Most replicator invocations running at once (drain, kicks, sweep, gc share them). */
  replicatorConcurrency: number;
}

export const DEFAULT_SETTINGS = {
  regions: ['us-east-1', 'eu-west-1', 'ap-southeast-1'],
  namePrefix: 'echofs',
  removalPolicy: 'retain',
  maxLagSeconds: 300,
  replicatorConcurrency: 2,
} as const;

/** Upper bound of echofs:replicatorConcurrency: the replicator is background work, not a fleet. */
export const MAX_REPLICATOR_CONCURRENCY = 20;

const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d$/;
const PREFIX_RE = /^[a-z][a-z0-9-]{1,18}[a-z0-9]$/;

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid EchoFS deployment settings (cdk.json context):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SettingsError';
  }
}

/** A list from context: a JSON array, or a comma-separated string (`-c echofs:regions=a,b`). */
function list(v: unknown): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) return v.map((x) => String(x).trim()).filter((x) => x.length > 0);
  const s = String(v).trim();
  if (s.startsWith('[')) {
    const parsed = JSON.parse(s) as unknown;
    return list(parsed);
  }
  return s.split(',').map((x) => x.trim()).filter((x) => x.length > 0);
}

function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const s = String(v).trim();
  return s === '' ? undefined : s;
}

/** Variables the stacks set themselves; echofs:environment may not override them. */
export const MANAGED_VARIABLES = new Set([
  'ECHOFS_STAGE',
  'ECHOFS_REGIONS',
  'ECHOFS_BUCKETS',
  'ECHOFS_TABLE',
  'ECHOFS_ADMIN_EMAILS',
  'ECHOFS_ADMIN_TOKEN',
  'ECHOFS_ADMIN_TOKEN_ARN',
  'ECHOFS_DB_CLUSTER_ARN',
  'ECHOFS_DB_SECRET_ARN',
  'ECHOFS_DB_APP_SECRET_ARN',
  'ECHOFS_DB_NAME',
  'ECHOFS_REPLICATOR_FUNCTION',
  'ECHOFS_S3_ENDPOINTS',
]);

function envObject(v: unknown, problems: string[]): Record<string, string> {
  if (v === undefined || v === null || v === '') return {};
  let o: unknown = v;
  if (typeof v === 'string') {
    try {
      o = JSON.parse(v);
    } catch {
      problems.push('echofs:environment must be a JSON object of strings, e.g. {"ECHOFS_MODE":"hybrid"}');
      return {};
    }
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) {
    problems.push('echofs:environment must be a JSON object of strings, e.g. {"ECHOFS_MODE":"hybrid"}');
    return {};
  }
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) {
    if (!/^ECHOFS_[A-Z0-9_]+$/.test(k)) problems.push(`echofs:environment: '${k}' is not an ECHOFS_* variable`);
    else if (MANAGED_VARIABLES.has(k)) problems.push(`echofs:environment: ${k} is set by the stacks and cannot be overridden`);
    else out[k] = String(val);
  }
  return out;
}

/** Parse settings from a context getter (node.tryGetContext). Every problem is reported at once. */
export function parseSettings(get: (key: string) => unknown): EchoSettings {
  const problems: string[] = [];
  const regions = list(get('echofs:regions')) ?? [...DEFAULT_SETTINGS.regions];
  if (regions.length === 0) problems.push('echofs:regions must name at least one region');
  for (const r of regions) if (!REGION_RE.test(r)) problems.push(`echofs:regions: '${r}' is not a region name like us-east-1`);
  if (new Set(regions).size !== regions.length) problems.push('echofs:regions must not repeat a region');

  const homeRegion = text(get('echofs:homeRegion')) ?? regions[0] ?? DEFAULT_SETTINGS.regions[0];
  if (!regions.includes(homeRegion)) problems.push(`echofs:homeRegion '${homeRegion}' must be one of echofs:regions (${regions.join(', ')})`);

  const namePrefix = text(get('echofs:namePrefix')) ?? DEFAULT_SETTINGS.namePrefix;
  if (!PREFIX_RE.test(namePrefix)) problems.push(`echofs:namePrefix '${namePrefix}' must be 3-20 lower-case letters, digits or hyphens, starting with a letter`);

  const rp = (text(get('echofs:removalPolicy')) ?? DEFAULT_SETTINGS.removalPolicy).toLowerCase();
  let removalPolicy = RemovalPolicy.RETAIN;
  if (rp === 'destroy') removalPolicy = RemovalPolicy.DESTROY;
  else if (rp !== 'retain') problems.push(`echofs:removalPolicy must be 'retain' or 'destroy' (got '${rp}')`);

  const domainName = text(get('echofs:domainName'));
  const certificateArn = text(get('echofs:certificateArn'));
  if (domainName && !certificateArn) problems.push('echofs:domainName needs echofs:certificateArn (an ACM certificate in us-east-1 covering the domain)');
  if (certificateArn && !/^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate\/.+$/.test(certificateArn)) {
    problems.push('echofs:certificateArn must be an ACM certificate ARN in us-east-1 (CloudFront only accepts those)');
  }

  const adminEmails = (list(get('echofs:adminEmails')) ?? []).map((e) => e.toLowerCase());
  for (const e of adminEmails) if (!/^[^@\s]+@[^@\s]+$/.test(e)) problems.push(`echofs:adminEmails: '${e}' is not an e-mail address`);

  const al = text(get('echofs:accessLogs'))?.toLowerCase();
  const accessLogs = al === 'true' || al === '1' || al === 'yes';

  const alarmEmail = text(get('echofs:alarmEmail'));
  const lagRaw = text(get('echofs:maxLagSeconds'));
  const maxLagSeconds = lagRaw === undefined ? DEFAULT_SETTINGS.maxLagSeconds : Number(lagRaw);
  if (!Number.isFinite(maxLagSeconds) || maxLagSeconds <= 0) problems.push(`echofs:maxLagSeconds must be a positive number (got '${lagRaw}')`);

  const environment = envObject(get('echofs:environment'), problems);

  const rc = text(get('echofs:reservedConcurrency'))?.toLowerCase();
  const reservedConcurrency = rc === undefined || rc === 'true' || rc === '1' || rc === 'yes';
  if (rc !== undefined && !reservedConcurrency && !['false', '0', 'no'].includes(rc)) problems.push(`echofs:reservedConcurrency must be true or false (got '${rc}')`);
  const replRaw = text(get('echofs:replicatorConcurrency'));
  const replicatorConcurrency = replRaw === undefined ? DEFAULT_SETTINGS.replicatorConcurrency : Number(replRaw);
  if (!Number.isInteger(replicatorConcurrency) || replicatorConcurrency < 1 || replicatorConcurrency > MAX_REPLICATOR_CONCURRENCY) {
    problems.push(`echofs:replicatorConcurrency must be a whole number from 1 to ${MAX_REPLICATOR_CONCURRENCY} (got '${replRaw}')`);
  }

  if (problems.length > 0) throw new SettingsError(problems);
  return {
    regions,
    homeRegion,
    namePrefix,
    removalPolicy,
    domainName,
    certificateArn,
    adminEmails,
    accessLogs,
    alarmEmail,
    maxLagSeconds,
    environment,
    reservedConcurrency,
    replicatorConcurrency,
  };
}

export function settingsFromNode(node: Node): EchoSettings {
  return parseSettings((k) => node.tryGetContext(k));
}

/**
 * The chunk bucket name of one region. Deterministic, so that the core stack in the home region can
 * name (and grant) the buckets of the other regions without cross-region references. `account` is
 * usually the `AWS::AccountId` token: every stack deploys into the same account.
 */
export function chunkBucketName(namePrefix: string, account: string, region: string): string {
  return `${namePrefix}-chunks-${account}-${region}`;
}
