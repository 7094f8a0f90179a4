/**
 * The order test files start in. Vitest runs files longest first when it has timings from an
 * earlier run, but a clean clone (as in CI) has none and falls back to the largest files first,
 * which is not the same: long files (each a whole run of something: the Lambda harness, the bench
 * smoke, the nemesis, a browser) then start late and leave one worker running alone while the
 * other has nothing left, up to a third of a run. These start first, longest first, as measured
 * in a quiet run (seconds in the comments, 2 cores); the rest keep Vitest's order. A new file
 * that takes more than about 4 s belongs here.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const LONG_FIRST = [
  'test/lambda/deployed.test.ts', // 34
  'test/integration/bench-smoke.test.ts', // 24
  'test/integration/runtime.test.ts', // 24
  'test/e2e/web.test.ts', // 23
  'test/nemesis/nemesis.test.ts', // 21
  'test/integration/controller-partition.test.ts', // 20
  'test/acceptance/local.test.ts', // 15
  'test/integration/files-api.test.ts', // 15
  'test/fuzz/routes.fuzz.test.ts', // 13
  'test/web/pages.browser.test.ts', // 12
  'test/web/files.browser.test.ts', // 12
  'test/web/file-edits.browser.test.ts', // 10
  'test/cli/process.test.ts', // 10
  'test/unit/storage-engine.test.ts', // 9
  'test/contract/wire-responses.test.ts', // 8
  'test/web/account.browser.test.ts', // 7
  'test/cli/resume.test.ts', // 7
  'test/cli/roundtrip.test.ts', // 6
  'test/web/dashboard.browser.test.ts', // 6
  'test/integration/timeouts.test.ts', // 6
  'test/contract/published-api.test.ts', // 5
  'test/helpers/catalog-template.test.ts', // 5
  'test/integration/write-path-latency.test.ts', // 5
  'test/integration/replication.test.ts', // 5
  'test/integration/catalog-commit.test.ts', // 5
  'test/web/uploads.browser.test.ts', // 5
  'test/web/downloads.browser.test.ts', // 4
  'test/integration/login-throttle.test.ts', // 4
];

export default class LongFilesFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const root = this.ctx.config.root;
    const rank = (s: TestSpecification) => {
      const i = LONG_FIRST.indexOf(relative(root, s.moduleId));
      return i < 0 ? LONG_FIRST.length : i;
    };
    // Projects run one after another in Vitest's order; within a project, the long files first.
    const projects = [...new Set(sorted.map((s) => s.project.name))];
    const project = (s: TestSpecification) => projects.indexOf(s.project.name);
    return sorted
      .map((spec, index) => ({ spec, index }))
      .sort((a, b) => project(a.spec) - project(b.spec) || rank(a.spec) - rank(b.spec) || a.index - b.index)
      .map(({ spec }) => spec);
  }
}
