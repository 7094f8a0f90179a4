/**
 * One config module, read once at cold start by every function and by the local runtime.
 * Each bad variable gets its own clear message; all of them are reported together.
 */
import { z } from 'zod';

export type Mode = 'C' | 'H' | 'A';
const MODE_NAMES: Record<string, Mode> = { strong: 'C', c: 'C', hybrid: 'H', h: 'H', available: 'A', a: 'A' };

const REGION_RE = /^[a-z]{2}(-[a-z]+)+-\d$/;

const intVar = (name: string, def: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `${name} must be an integer from ${min} to ${max} (got '${v}')` });
        return z.NEVER;
      }
      return n;
    });

const numVar = (name: string, def: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      const n = Number(v);
      if (!Number.isFinite(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `${name} must be a number from ${min} to ${max} (got '${v}')` });
        return z.NEVER;
      }
      return n;
    });

const listVar = z
  .string()
  .optional()
  .transform((v) => (v ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0));

/** "region=value,region=value" or a JSON object. */
const mapVar = (name: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const out: Record<string, string> = {};
      if (v === undefined || v.trim() === '') return out;
      const t = v.trim();
      if (t.startsWith('{')) {
        try {
          const o = JSON.parse(t) as unknown;
          if (o && typeof o === 'object') {
            for (const [k, val] of Object.entries(o)) if (typeof val === 'string') out[k] = val;
            return out;
          }
        } catch {
          /* fall through */
        }
        ctx.addIssue({ code: 'custom', message: `${name} must be a JSON object of strings or 'key=value,key=value'` });
        return z.NEVER;
      }
      for (const pair of t.split(',')) {
        const i = pair.indexOf('=');
        if (i <= 0) {
          ctx.addIssue({ code: 'custom', message: `${name} must be 'key=value,key=value' (bad entry '${pair}')` });
          return z.NEVER;
        }
        out[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
      }
      return out;
    });

const schema = z.object({
  ECHOFS_STAGE: z.enum(['local', 'cloud'], { message: "ECHOFS_STAGE must be 'local' or 'cloud'" }).optional().default('local'),
  PORT: intVar('PORT', 8080, 0, 65535),
  ECHOFS_DATA_DIR: z.string().optional().default('.echofs'),
  DATABASE_URL: z
    .string()
    .optional()
    .refine((v) => v === undefined || v === '' || /^postgres(ql)?:\/\//.test(v), { message: 'DATABASE_URL must start with postgres:// or postgresql://' }),
  JWT_SECRET: z
    .string()
    .optional()
    .refine((v) => v === undefined || v === '' || v.length >= 32, { message: 'JWT_SECRET must be at least 32 characters' }),
  JWT_SECRET_ARN: z.string().optional(),
  ECHOFS_REGIONS: listVar.refine((l) => l.every((r) => REGION_RE.test(r)), {
    message: "ECHOFS_REGIONS must be a comma-separated list of region names like 'us-east-1,eu-west-1'",
  }).refine((l) => new Set(l).size === l.length, { message: 'ECHOFS_REGIONS must not repeat a region' }),
  ECHOFS_ADMIN_EMAILS: listVar.refine((l) => l.every((e) => /^[^@\s]+@[^@\s]+$/.test(e)), {
    message: 'ECHOFS_ADMIN_EMAILS must be a comma-separated list of email addresses',
  }),
  // Whitespace around the token is dropped (a copied value often ends in a newline); what is left
  // must be long enough not to be guessed.
  ECHOFS_ADMIN_TOKEN: z
    .string()
    .optional()
    .transform((v) => v?.trim() ?? '')
    .refine((v) => v === '' || (v.length >= 16 && v.length <= 512 && /^[\x21-\x7e]+$/.test(v)), {
      message: 'ECHOFS_ADMIN_TOKEN must be 16 to 512 printable ASCII characters without spaces',
    }),
  ECHOFS_ADMIN_TOKEN_ARN: z.string().optional(),
  BCRYPT_COST: intVar('BCRYPT_COST', 10, 4, 15),
  ECHOFS_MODE: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return 'C' as Mode;
      const m = MODE_NAMES[v.toLowerCase()];
      if (!m) {
        ctx.addIssue({ code: 'custom', message: `ECHOFS_MODE must be strong, hybrid or available (got '${v}')` });
        return z.NEVER;
      }
      return m;
    }),
  ECHOFS_MAX_FILE_BYTES: numVar('ECHOFS_MAX_FILE_BYTES', 5 * 1024 ** 4, 0, Number.MAX_SAFE_INTEGER),
  ECHOFS_QUOTA_BYTES: numVar('ECHOFS_QUOTA_BYTES', 100 * 1024 ** 3, 0, Number.MAX_SAFE_INTEGER),
  ECHOFS_UPLOAD_TTL_SECONDS: intVar('ECHOFS_UPLOAD_TTL_SECONDS', 24 * 3600, 10, 30 * 24 * 3600),
  ECHOFS_GC_GRACE_SECONDS: intVar('ECHOFS_GC_GRACE_SECONDS', 24 * 3600, 0, 365 * 24 * 3600),
  ECHOFS_TRASH_RETENTION_SECONDS: intVar('ECHOFS_TRASH_RETENTION_SECONDS', 0, 0, 10 * 365 * 24 * 3600),
  ECHOFS_REPLICA_TIMEOUT_MS: intVar('ECHOFS_REPLICA_TIMEOUT_MS', 5000, 50, 120_000),
  ECHOFS_BUCKETS: mapVar('ECHOFS_BUCKETS'),
  ECHOFS_S3_ENDPOINTS: mapVar('ECHOFS_S3_ENDPOINTS'),
  ECHOFS_TABLE: z.string().optional().default('echofs-controller').refine((v) => v.length >= 3 && v.length <= 255, {
    message: 'ECHOFS_TABLE must be 3 to 255 characters',
  }),
  DYNAMODB_ENDPOINT: z.string().url({ message: 'DYNAMODB_ENDPOINT must be a URL' }).optional(),
  ECHOFS_DB_CLUSTER_ARN: z.string().optional(),
  ECHOFS_DB_SECRET_ARN: z.string().optional(),
  ECHOFS_DB_NAME: z.string().optional().default('echofs'),
  ECHOFS_REPLICATOR_FUNCTION: z.string().optional(),
  ECHOFS_PROBE_INTERVAL_MS: intVar('ECHOFS_PROBE_INTERVAL_MS', 5000, 100, 600_000),
  // consistency controller (published defaults)
  ECHOFS_CTRL_WEIGHTS: z.string().optional(),
  ECHOFS_CTRL_THRESHOLD_A: numVar('ECHOFS_CTRL_THRESHOLD_A', 0.6, -1, 2),
  ECHOFS_CTRL_THRESHOLD_C: numVar('ECHOFS_CTRL_THRESHOLD_C', 0.3, -1, 2),
  ECHOFS_CTRL_SAMPLES: intVar('ECHOFS_CTRL_SAMPLES', 3, 1, 100),
  ECHOFS_CTRL_EMERGENCY_PARTITION: numVar('ECHOFS_CTRL_EMERGENCY_PARTITION', 0.8, 0, 1),
  ECHOFS_CTRL_LAG_BOUNDS_MS: z.string().optional(),
  ECHOFS_CTRL_WRITE_BOUNDS: z.string().optional(),
  ECHOFS_CTRL_PENALTY_MS: intVar('ECHOFS_CTRL_PENALTY_MS', 60_000, 0, 86_400_000),
  ECHOFS_MODE_CACHE_MS: intVar('ECHOFS_MODE_CACHE_MS', 1000, 0, 600_000),
  ECHOFS_PROBE_TIMEOUT_MS: intVar('ECHOFS_PROBE_TIMEOUT_MS', 2000, 50, 120_000),
  ECHOFS_AUDIT_TTL_DAYS: intVar('ECHOFS_AUDIT_TTL_DAYS', 90, 1, 3650),
  ECHOFS_DURABILITY_BUDGET_MS: intVar('ECHOFS_DURABILITY_BUDGET_MS', 1000, 0, 60_000),
  ECHOFS_PUBLIC_URL: z.string().optional(),
});

export const DEFAULT_REGIONS = ['us-east-1', 'eu-west-1', 'ap-southeast-1'];

export interface Config {
  stage: 'local' | 'cloud';
  port: number;
  dataDir: string;
  databaseUrl?: string;
  jwtSecret?: string;
  jwtSecretArn?: string;
  regions: string[];
  /** Lower-case addresses whose accounts are administrators (once the admin token, if any, is shown). */
  adminEmails: string[];
  /**
   * The admin bootstrap token (ECHOFS_ADMIN_TOKEN). When set, or when adminTokenArn is, becoming
   * an administrator needs it; in the cloud it is always needed (shared/auth/admin-token.ts).
   */
  adminToken?: string;
  /** cloud: Secrets Manager secret holding the admin bootstrap token (ECHOFS_ADMIN_TOKEN_ARN). */
  adminTokenArn?: string;
  bcryptCost: number;
  /** Fixed mode used until (and unless) the controller decides per object. */
  mode: Mode;
  maxFileBytes: number;
  quotaBytes: number;
  uploadTtlSeconds: number;
  gcGraceSeconds: number;
  /** Deleted files and versions older than this are purged for good by GC; 0 keeps them (restorable). */
  trashRetentionSeconds: number;
  replicaTimeoutMs: number;
  /** region -> bucket name */
  buckets: Record<string, string>;
  /** region -> S3 endpoint URL (emulators); empty in the cloud */
  s3Endpoints: Record<string, string>;
  table: string;
  dynamoEndpoint?: string;
  dataApi?: { resourceArn: string; secretArn: string; database: string };
  replicatorFunction?: string;
  probeIntervalMs: number;
  publicUrl?: string;
  controller: ControllerConfig;
}

/** Consistency controller tuning (DESIGN §3); every number has the published default. */
export interface ControllerConfig {
  /** score = partition·w.partition + lag·w.lag + writes·w.writes + hint·w.hint − penalty·w.penalty */
  weights: { partition: number; lag: number; writes: number; hint: number; penalty: number };
  /** score > thresholdA → A; score < thresholdC → C; otherwise H. */
  thresholdA: number;
  thresholdC: number;
  /** Consecutive agreeing samples needed before a new mode is taken (hysteresis). */
  samples: number;
  /** Partition risk above this switches to A at once. */
  emergencyPartition: number;
  /** Replication lag normalisation: at or below min → 0, at or above max → 1 (ms). */
  lagBoundsMs: { min: number; max: number };
  /** Write rate normalisation (writes per second). */
  writeBounds: { min: number; max: number };
  /** The recent-change penalty decays linearly from 1 to 0 over this many ms after a transition. */
  penaltyMs: number;
  /** How long the files path may use a cached mode (ms). */
  modeCacheMs: number;
  probeTimeoutMs: number;
  auditTtlDays: number;
  /**
   * Latency-aware strong writes (controller mode C only): when the majority-th fastest replica is
   * much slower than the fastest but expected within this many ms, a write waits a short while for
   * a majority, then is acknowledged with the copies it has and the rest left pending. 0 turns it off.
   */
  durabilityBudgetMs: number;
}

export const DEFAULT_CONTROLLER: ControllerConfig = {
  weights: { partition: 0.4, lag: 0.3, writes: 0.2, hint: 0.1, penalty: 0.2 },
  thresholdA: 0.6,
  thresholdC: 0.3,
  samples: 3,
  emergencyPartition: 0.8,
  lagBoundsMs: { min: 0, max: 60_000 },
  writeBounds: { min: 0, max: 50 },
  penaltyMs: 60_000,
  modeCacheMs: 1000,
  probeTimeoutMs: 2000,
  auditTtlDays: 90,
  durabilityBudgetMs: 1000,
};

/** "partition=0.4,lag=0.3,..." (any subset) -> weights, defaults for the rest. */
function parseWeights(v: string | undefined, problems: string[]): ControllerConfig['weights'] {
  const w = { ...DEFAULT_CONTROLLER.weights };
  if (v === undefined || v.trim() === '') return w;
  for (const pair of v.split(',')) {
    const [k, val] = pair.split('=').map((x) => x.trim());
    const n = Number(val);
    if (!k || !(k in w) || val === undefined || val === '' || !Number.isFinite(n) || n < 0 || n > 10) {
      problems.push(`ECHOFS_CTRL_WEIGHTS must be 'partition=0.4,lag=0.3,writes=0.2,hint=0.1,penalty=0.2' (any subset, each 0 to 10; bad entry '${pair}')`);
      return w;
    }
    w[k as keyof typeof w] = n;
  }
  return w;
}

/** "min,max" -> bounds with min < max. */
function parseBounds(name: string, v: string | undefined, def: { min: number; max: number }, problems: string[]): { min: number; max: number } {
  if (v === undefined || v.trim() === '') return { ...def };
  const parts = v.split(',').map((x) => Number(x.trim()));
  const [min, max] = parts;
  if (parts.length !== 2 || min === undefined || max === undefined || !Number.isFinite(min) || !Number.isFinite(max) || min < 0 || max <= min) {
    problems.push(`${name} must be 'min,max' with 0 <= min < max (got '${v}')`);
    return { ...def };
  }
  return { min, max };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => (i.code === 'custom' || i.message.includes(String(i.path[0])) ? i.message : `${String(i.path[0])}: ${i.message}`)));
  }
  const e = parsed.data;
  const regions = e.ECHOFS_REGIONS.length > 0 ? e.ECHOFS_REGIONS : DEFAULT_REGIONS;
  const problems: string[] = [];
  if (e.ECHOFS_STAGE === 'cloud') {
    for (const r of regions) if (!e.ECHOFS_BUCKETS[r]) problems.push(`ECHOFS_BUCKETS has no bucket for region ${r}`);
  }
  for (const [r, b] of Object.entries(e.ECHOFS_BUCKETS)) {
    if (b.length < 3 || b.length > 63) problems.push(`ECHOFS_BUCKETS: bucket name for ${r} must be 3 to 63 characters`);
  }
  const controller: ControllerConfig = {
    weights: parseWeights(e.ECHOFS_CTRL_WEIGHTS, problems),
    thresholdA: e.ECHOFS_CTRL_THRESHOLD_A,
    thresholdC: e.ECHOFS_CTRL_THRESHOLD_C,
    samples: e.ECHOFS_CTRL_SAMPLES,
    emergencyPartition: e.ECHOFS_CTRL_EMERGENCY_PARTITION,
    lagBoundsMs: parseBounds('ECHOFS_CTRL_LAG_BOUNDS_MS', e.ECHOFS_CTRL_LAG_BOUNDS_MS, DEFAULT_CONTROLLER.lagBoundsMs, problems),
    writeBounds: parseBounds('ECHOFS_CTRL_WRITE_BOUNDS', e.ECHOFS_CTRL_WRITE_BOUNDS, DEFAULT_CONTROLLER.writeBounds, problems),
    penaltyMs: e.ECHOFS_CTRL_PENALTY_MS,
    modeCacheMs: e.ECHOFS_MODE_CACHE_MS,
    probeTimeoutMs: e.ECHOFS_PROBE_TIMEOUT_MS,
    auditTtlDays: e.ECHOFS_AUDIT_TTL_DAYS,
    durabilityBudgetMs: e.ECHOFS_DURABILITY_BUDGET_MS,
  };
  if (controller.thresholdC > controller.thresholdA) problems.push('ECHOFS_CTRL_THRESHOLD_C must not exceed ECHOFS_CTRL_THRESHOLD_A');
  if (problems.length > 0) throw new ConfigError(problems);
  const dataApi =
    e.ECHOFS_DB_CLUSTER_ARN && e.ECHOFS_DB_SECRET_ARN
      ? { resourceArn: e.ECHOFS_DB_CLUSTER_ARN, secretArn: e.ECHOFS_DB_SECRET_ARN, database: e.ECHOFS_DB_NAME }
      : undefined;
  return {
    stage: e.ECHOFS_STAGE,
    port: e.PORT,
    dataDir: e.ECHOFS_DATA_DIR,
    databaseUrl: e.DATABASE_URL || undefined,
    jwtSecret: e.JWT_SECRET || undefined,
    jwtSecretArn: e.JWT_SECRET_ARN || undefined,
    regions,
    adminEmails: e.ECHOFS_ADMIN_EMAILS.map((x) => x.toLowerCase()),
    adminToken: e.ECHOFS_ADMIN_TOKEN || undefined,
    adminTokenArn: e.ECHOFS_ADMIN_TOKEN_ARN || undefined,
    bcryptCost: e.BCRYPT_COST,
    mode: e.ECHOFS_MODE,
    maxFileBytes: e.ECHOFS_MAX_FILE_BYTES,
    quotaBytes: e.ECHOFS_QUOTA_BYTES,
    uploadTtlSeconds: e.ECHOFS_UPLOAD_TTL_SECONDS,
    gcGraceSeconds: e.ECHOFS_GC_GRACE_SECONDS,
    trashRetentionSeconds: e.ECHOFS_TRASH_RETENTION_SECONDS,
    replicaTimeoutMs: e.ECHOFS_REPLICA_TIMEOUT_MS,
    buckets: Object.keys(e.ECHOFS_BUCKETS).length > 0 ? e.ECHOFS_BUCKETS : Object.fromEntries(regions.map((r) => [r, `echofs-${r}`])),
    s3Endpoints: e.ECHOFS_S3_ENDPOINTS,
    table: e.ECHOFS_TABLE,
    dynamoEndpoint: e.DYNAMODB_ENDPOINT,
    dataApi,
    replicatorFunction: e.ECHOFS_REPLICATOR_FUNCTION,
    probeIntervalMs: e.ECHOFS_PROBE_INTERVAL_MS,
    publicUrl: e.ECHOFS_PUBLIC_URL,
    controller,
  };
}
