/**
 * Builds every EchoFS stack into a CDK app: a replica stack per region, then the core, web and
 * observability stacks in the home region. Used by app.ts and by the template tests, so the tests
 * check exactly what `cdk deploy --all` would deploy.
 */
import { type App, Aspects } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CoreStack } from './core-stack.js';
import { applyNagSuppressions } from './nag-suppressions.js';
import { ObservabilityStack } from './observability-stack.js';
import { ReplicaStack } from './replica-stack.js';
import { settingsFromNode, type EchoSettings } from './settings.js';
import { WebStack } from './web-stack.js';

export interface EchoAppOptions {
  /** Folder with `<name>/handler.ts` per function (default: the repository's functions/). */
  functionsDir?: string;
  /** Built web app (default web/dist). */
  webDist?: string;
  /** Run cdk-nag AwsSolutions checks (default true). */
  nag?: boolean;
}

export interface EchoStacks {
  settings: EchoSettings;
  replicas: ReplicaStack[];
  core: CoreStack;
  web: WebStack;
  observability: ObservabilityStack;
}

const TAGS = { project: 'echofs' };

export function buildEchoApp(app: App, options: EchoAppOptions = {}): EchoStacks {
  const settings = settingsFromNode(app.node);
  const p = settings.namePrefix;
  const home = { region: settings.homeRegion };

  const replicas = settings.regions.map(
    (region) =>
      new ReplicaStack(app, `${p}-replica-${region}`, {
        env: { region },
        description: `EchoFS replica: chunk bucket in ${region}`,
        namePrefix: p,
        removalPolicy: settings.removalPolicy,
        accessLogs: settings.accessLogs,
        tags: TAGS,
      }),
  );

  const core = new CoreStack(app, `${p}-core`, {
    env: home,
    description: 'EchoFS core: API, functions, catalog, controller table, schedules',
    settings,
    functionsDir: options.functionsDir,
    tags: TAGS,
  });
  // The functions name the buckets deterministically; deploy the buckets first.
  for (const r of replicas) core.addStackDependency(r);

  const web = new WebStack(app, `${p}-web`, {
    env: home,
    description: 'EchoFS web app behind CloudFront',
    settings,
    api: core.api,
    downloadUrl: core.downloadUrl,
    webDist: options.webDist,
    tags: TAGS,
  });

  const { migrate: _migrate, ...charted } = core.functions;
  const observability = new ObservabilityStack(app, `${p}-observability`, {
    env: home,
    description: 'EchoFS dashboard and alarms',
    settings,
    api: core.api,
    functions: charted,
    tags: TAGS,
  });

  applyNagSuppressions({ settings, replicas, core, web, observability });
  if (options.nag ?? true) Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  return { settings, replicas, core, web, observability };
}
