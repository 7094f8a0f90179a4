/**
 * Once per `vitest run`, before any test file: the migrated catalog template that fresh test data
 * dirs are seeded from (./catalog-template.ts), so that no two test files build it at once.
 */
import { catalogTemplate } from './catalog-template.js';

export default async function setup(): Promise<void> {
  await catalogTemplate();
}
