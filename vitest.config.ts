import { defineConfig } from 'vitest/config';
import { scaled } from './test/helpers/load.js';
import LongFilesFirst from './test/helpers/sequencer.js';

const ALL = ['test/**/*.test.ts', 'test/**/*.test.tsx'];
/**
 * Files that change process-wide state on purpose (environment variables that handlers read once,
 * the DOM of jsdom and its fake timers, the replicator's default region backoff) run each in a
 * fresh module graph. Every other file shares its worker's loaded modules (the AWS SDK, PGlite's
 * WebAssembly, the CDK, the local stack), which would otherwise be loaded again for every file;
 * those files restore what they change (spies, fake timers, metric sinks) before they end.
 */
const ISOLATED = ['test/web/**/*.test.tsx', 'test/unit/replicator*.test.ts', 'test/integration/auth-lambda.test.ts', 'test/integration/admin-bootstrap.test.ts'];

export default defineConfig({
  test: {
    // Bounds, not waits: tests wait for conditions. Scaled to the load at the start of the run
    // (1x idle, up to 4x on a busy 2-core machine) so a slow machine is not mistaken for a hang.
    testTimeout: scaled(60_000),
    hookTimeout: scaled(120_000),
    // Builds once per run what test data dirs are seeded from (a migrated embedded catalog).
    globalSetup: ['test/helpers/global-setup.ts'],
    // Long files start first, so that no worker is left running one alone at the end.
    sequence: { sequencer: LongFilesFirst },
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
    // EMF metric lines would flood the test output; tests that check metrics enable them.
    env: { POWERTOOLS_METRICS_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    projects: [
      { extends: true, test: { name: 'isolated', include: ISOLATED } },
      { extends: true, test: { name: 'shared', include: ALL, exclude: ISOLATED, isolate: false } },
    ],
  },
});
