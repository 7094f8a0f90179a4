import { defineConfig } from 'vitest/config';
import { scaled } from './test/helpers/load.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    // Bounds, not waits: tests wait for conditions. Scaled to the load at the start of the run
    // (1x idle, up to 4x on a busy 2-core machine) so a slow machine is not mistaken for a hang.
    testTimeout: scaled(60_000),
    hookTimeout: scaled(120_000),
    // Builds once per run what test data dirs are seeded from (a migrated embedded catalog).
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
    // EMF metric lines would flood the test output; tests that check metrics enable them.
    env: { POWERTOOLS_METRICS_DISABLED: 'true', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});
