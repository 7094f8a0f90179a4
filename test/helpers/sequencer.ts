/**
 * The order test files start in. Vitest runs files longest first when it has timings from an
 * earlier run, but a clean clone has none, and then the few long files (each a whole run of
 * something: the bench smoke, the Lambda harness, the nemesis) can start last and leave one
 * worker running alone at the end. These start first, in this order; the rest keep Vitest's order.
 */
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const LONG_FIRST = [
  'test/integration/bench-smoke.test.ts',
  'test/lambda/deployed.test.ts',
  'test/integration/runtime.test.ts',
  'test/nemesis/nemesis.test.ts',
  'test/integration/controller-partition.test.ts',
  'test/e2e/web.test.ts',
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
