/**
 * Once per `vitest run`, before any test file: the migrated catalog template that fresh test data
 * dirs are seeded from (./catalog-template.ts) and, when the run has DATABASE_URL, the migrated
 * template database that test stacks copy (./databases.ts), so that no two test files build one at once.
 */
import { catalogTemplate } from './catalog-template.js';
import { migratedTemplate } from './databases.js';

export default async function setup(): Promise<void> {
  await Promise.all([catalogTemplate(), process.env.DATABASE_URL ? migratedTemplate(process.env.DATABASE_URL) : undefined]);
}
