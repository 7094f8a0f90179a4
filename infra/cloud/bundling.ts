/**
 * How every EchoFS function is bundled for Lambda: one source of truth, used by EchoFunction (what
 * `cdk synth` / `cdk deploy` build and upload) and, through the CDK app's own synthesis, by the
 * Lambda-shaped test runtime (test/lambda), which runs exactly these bundles.
 */
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';

/** The Lambda runtime and architecture of every function. */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_22_X;
export const FUNCTION_ARCHITECTURE = lambda.Architecture.ARM_64;

/**
 * Packages no deployed bundle may need. Each is used only by the local runtime (PGlite, the
 * emulators) or optionally by a dependency (pg's native binding, loaded only on request). A bundle
 * that imports one of them at load fails in Lambda; test/lambda/bundles.ts (run by test/lambda/deployed.test.ts) loads every built
 * bundle in an empty folder to prove none does.
 */
export const EXTERNAL_MODULES = ['@electric-sql/pglite', 'pg-native', 's3rver', 'dynalite'] as const;

/** The entry file's bundle is index.mjs (ESM): the handler string is `index.<export>`. */
export const BUNDLE_FILE = 'index.mjs';

export const BUNDLING: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node22',
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  // ESM bundles need a real `require` for the few CommonJS dependencies that call it.
  banner: "import { createRequire as __echofsCreateRequire } from 'module'; const require = __echofsCreateRequire(import.meta.url);",
  mainFields: ['module', 'main'],
  // The AWS SDK is bundled (the versions the tests ran with), not taken from the runtime.
  externalModules: [...EXTERNAL_MODULES],
};

/** Environment every function gets from EchoFunction itself (source-mapped stack traces, log service name). */
export const FUNCTION_BASE_ENVIRONMENT: Readonly<Record<string, string>> = {
  NODE_OPTIONS: '--enable-source-maps',
  POWERTOOLS_SERVICE_NAME: 'echofs',
};
