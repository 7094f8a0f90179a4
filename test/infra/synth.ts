/**
 * Synthesis for the template tests: the real app (buildEchoApp), asset bundling skipped so no
 * esbuild run is needed. NodejsFunction still insists that each entry file exists; while a
 * function's handler is not in the repository yet, the tests point at a temporary folder of
 * stand-in entries (the template does not depend on an entry's content when bundling is skipped).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { buildEchoApp, type EchoStacks } from '../../infra/cloud/echo-app.js';
import { REPO_ROOT } from '../../infra/cloud/echo-function.js';

export const FUNCTION_NAMES = ['auth', 'files', 'controller', 'prober', 'replicator', 'migrate'] as const;

/** The repository's functions/ when every entry exists, else a temp folder of stand-ins. */
export function functionsDirForTests(): { dir: string; real: boolean } {
  const real = path.join(REPO_ROOT, 'functions');
  if (FUNCTION_NAMES.every((n) => existsSync(path.join(real, n, 'handler.ts')))) return { dir: real, real: true };
  const dir = mkdtempSync(path.join(tmpdir(), 'echofs-fn-'));
  for (const n of FUNCTION_NAMES) {
    mkdirSync(path.join(dir, n));
    writeFileSync(path.join(dir, n, 'handler.ts'), 'export const handler = async () => ({});\nexport const streamHandler = handler;\n');
  }
  return { dir, real: false };
}

export interface Synthesized extends EchoStacks {
  app: App;
  templates: Map<Stack, Template>;
  template(stack: Stack): Template;
  /** cdk-nag (and other) error annotations, as "stack path: message". */
  errors(): string[];
  /**
   * What the CDK's built-in CloudFormation validation (run by every synthesis unless turned off)
   * found in the templates, as "rule: description (construct paths)". The CDK only reports these,
   * as warnings, into the assembly's validation-report.json; the tests make them failures.
   */
  validationFindings(): string[];
  warnings(): string[];
}

export function synthesize(context: Record<string, unknown> = {}, opts: { webDist?: string } = {}): Synthesized {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [], '@aws-cdk/core:defaultCrossStackReferences': 'strong', ...context } });
  const stacks = buildEchoApp(app, {
    functionsDir: functionsDirForTests().dir,
    webDist: opts.webDist ?? path.join(tmpdir(), 'echofs-no-web-dist'),
  });
  const all: Stack[] = [...stacks.replicas, stacks.core, stacks.web, stacks.observability];
  // One synthesis for everything: Template.fromStack and Annotations.fromStack would each
  // synthesise the whole app again.
  const assembly = app.synth();
  const templates = new Map<Stack, Template>();
  const template = (st: Stack) => {
    let t = templates.get(st);
    if (!t) {
      t = Template.fromJSON(assembly.getStackArtifact(st.artifactId).template as Record<string, unknown>);
      templates.set(st, t);
    }
    return t;
  };
  const collect = (level: 'error' | 'warning') =>
    all.flatMap((st) =>
      assembly
        .getStackArtifact(st.artifactId)
        .messages.filter((m) => m.level === level)
        .map((m) => `${m.id}: ${String(m.entry.data)}`),
    );
  const validationFindings = () => {
    const report = JSON.parse(readFileSync(path.join(assembly.directory, 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; violations: { ruleName: string; description: string; violatingConstructs?: { constructPath?: string }[] }[] }[];
    };
    return report.pluginReports.flatMap((r) =>
      r.violations.map((v) => `${r.pluginName} ${v.ruleName}: ${v.description} (${(v.violatingConstructs ?? []).map((c) => c.constructPath).join(', ')})`),
    );
  };
  return { ...stacks, app, templates, template, errors: () => collect('error'), warnings: () => collect('warning'), validationFindings };
}

export interface Statement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** Every IAM statement attached to a function's execution role, with actions as a flat list. */
export function roleStatements(stack: Stack, template: Template, fn: { role?: { node: { defaultChild?: unknown } } }): { actions: string[]; resource: string }[] {
  const role = fn.role?.node.defaultChild;
  if (!role) throw new Error('function has no role');
  const roleId = stack.getLogicalId(role as Parameters<Stack['getLogicalId']>[0]);
  const policies = template.findResources('AWS::IAM::Policy');
  const out: { actions: string[]; resource: string }[] = [];
  for (const p of Object.values(policies)) {
    const props = p.Properties as { Roles?: { Ref?: string }[]; PolicyDocument: { Statement: Statement[] } };
    if (!props.Roles?.some((r) => r.Ref === roleId)) continue;
    for (const st of props.PolicyDocument.Statement) {
      if (st.Effect !== 'Allow') continue;
      const actions = Array.isArray(st.Action) ? st.Action : [st.Action];
      const resources = Array.isArray(st.Resource) ? st.Resource : [st.Resource];
      for (const r of resources) out.push({ actions, resource: JSON.stringify(r) });
    }
  }
  return out;
}

/** All actions a role is allowed, across its statements. */
export function allowedActions(statements: { actions: string[] }[]): Set<string> {
  return new Set(statements.flatMap((s) => s.actions));
}
