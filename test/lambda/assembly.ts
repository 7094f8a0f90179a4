/**
 * The cloud assembly the harness tests: the CDK app's own synthesis (buildEchoApp, the bundling of
 * infra/cloud/bundling.ts through EchoFunction), with the core stack's functions bundled exactly as
 * `cdk synth` / `cdk deploy` bundles them. One synthesis serves every test file of a run: it is
 * kept under the temp dir, keyed by a hash of everything that goes into it, and built by whichever
 * test file gets there first (the others wait for it).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { App } from 'aws-cdk-lib';
import { buildEchoApp } from '../../infra/cloud/echo-app.js';
import { REPO_ROOT } from '../../infra/cloud/echo-function.js';
import { ADMIN_EMAILS } from '../acceptance/target.js';
import { waitFor } from '../helpers/wait.js';

export interface Assembly {
  dir: string;
  /** Stack name -> template. */
  templates: Record<string, CfnTemplate>;
  /** Stack name -> region. */
  regions: Record<string, string>;
  /** How long the synthesis took (0 when reused). */
  synthMs: number;
}

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  Metadata?: Record<string, unknown>;
  DependsOn?: string | string[];
}

export interface CfnTemplate {
  Resources: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }>;
}

/**
 * Deploy-time settings the harness gives the app, as a deployer would with `cdk deploy -c …`: an
 * admin list, so the admin routes and the admin bootstrap can be exercised.
 */
export const HARNESS_CONTEXT = { 'echofs:adminEmails': ADMIN_EMAILS.join(',') };

const INPUTS = ['functions', 'shared', 'infra/cloud', 'package.json', 'package-lock.json', 'cdk.json'];

function hashInputs(): string {
  const h = createHash('sha256');
  const walk = (p: string) => {
    const abs = join(REPO_ROOT, p);
    if (!existsSync(abs)) return;
    if (statSync(abs).isDirectory()) {
      for (const e of readdirSync(abs).sort()) walk(join(p, e));
      return;
    }
    h.update(relative(REPO_ROOT, abs));
    h.update(readFileSync(abs));
  };
  for (const i of INPUTS) walk(i);
  h.update(JSON.stringify(HARNESS_CONTEXT));
  return h.digest('hex').slice(0, 20);
}

function synthInto(dir: string): void {
  const context = (JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
  // The template is the one `cdk synth` writes. cdk-nag only annotates, and the CDK's built-in
  // CloudFormation validation only reports (about 4 s of CPU a synthesis): both are asserted on the
  // same app by test/infra/stacks.test.ts, so they are left out here.
  const app = new App({ outdir: dir, builtinCloudFormationValidation: false, context: { ...context, ...HARNESS_CONTEXT, 'aws:cdk:enable-asset-metadata': true } });
  buildEchoApp(app, { nag: false, webDist: join(tmpdir(), 'echofs-no-web-dist') });
  app.synth();
}

/** Assemblies of other sources (about 20 MiB each) untouched for this long are removed: each use touches its own. */
const STALE_ASSEMBLY_MS = 6 * 60 * 60 * 1000;

function pruneOldAssemblies(keep: string): void {
  for (const name of readdirSync(tmpdir())) {
    const path = join(tmpdir(), name);
    if (!/^echofs-assembly-[0-9a-f]{20}$/.test(name) || path === keep) continue;
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_ASSEMBLY_MS) rmSync(path, { recursive: true, force: true });
    } catch {
      // Another run removed it first.
    }
  }
}

/** The synthesized app for the current sources (built now, or reused from this run). */
export async function synthesizedApp(): Promise<Assembly> {
  const key = hashInputs();
  const dir = join(tmpdir(), `echofs-assembly-${key}`);
  const done = join(dir, 'manifest.json');
  const lock = `${dir}.lock`;
  let synthMs = 0;
  if (!existsSync(done)) {
    let mine = false;
    try {
      mkdirSync(lock);
      mine = true;
    } catch {
      // Another test file is synthesizing: wait for it (or take over a lock left by a dead one).
      const stale = () => Date.now() - statSync(lock).mtimeMs > 180_000;
      await waitFor(() => existsSync(done) || !existsSync(lock) || stale(), 'the shared synthesis', 200_000, 250);
      if (!existsSync(done)) return synthesizedApp();
    }
    if (mine) {
      try {
        const t0 = Date.now();
        const building = `${dir}.building-${process.pid}`;
        rmSync(building, { recursive: true, force: true });
        synthInto(building);
        if (!existsSync(done)) renameSync(building, dir);
        synthMs = Date.now() - t0;
        writeFileSync(join(dir, 'synth-ms'), String(synthMs));
        pruneOldAssemblies(dir);
      } finally {
        rmSync(lock, { recursive: true, force: true });
      }
    }
  }
  // Marks it in use (see pruneOldAssemblies).
  const now = new Date();
  utimesSync(dir, now, now);
  const manifest = JSON.parse(readFileSync(done, 'utf8')) as { artifacts: Record<string, { type: string; environment?: string; properties?: { templateFile?: string } }> };
  const templates: Record<string, CfnTemplate> = {};
  const regions: Record<string, string> = {};
  for (const [name, a] of Object.entries(manifest.artifacts)) {
    if (a.type !== 'aws:cloudformation:stack' || !a.properties?.templateFile) continue;
    templates[name] = JSON.parse(readFileSync(join(dir, a.properties.templateFile), 'utf8')) as CfnTemplate;
    regions[name] = a.environment?.split('/').pop() ?? 'us-east-1';
  }
  return { dir, templates, regions, synthMs };
}
