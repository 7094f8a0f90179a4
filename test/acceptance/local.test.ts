/**
 * The API acceptance suite against the local stack of `npm start` (in process, on a random port).
 */
import { afterAll, beforeAll } from 'vitest';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { defineAcceptance } from './scenarios.js';
import { ADMIN_EMAILS, type Target } from './target.js';

let stack: TestStack;
let target: Target;

beforeAll(async () => {
  // The admin list alone decides here, as with `npm start` without ECHOFS_ADMIN_TOKEN (no adminToken).
  // Schedules are driven by the scenarios ("run the replicator now"), as EventBridge would.
  // The catalog is `npm start`'s own, the embedded one, even when the run has a PostgreSQL server.
  stack = await startTestStack({ ECHOFS_ADMIN_EMAILS: ADMIN_EMAILS.join(',') }, { schedules: false, catalog: 'memory' });
  const { system } = stack;
  target = {
    name: 'npm start',
    url: stack.url,
    regions: system.config.regions,
    admin: async () => {
      throw new Error('use adminAccount()');
    },
    async partition(region, on) {
      system.faults.set(region, { state: on ? 'blackhole' : 'up' });
    },
    async runReplicator() {
      await system.tasks.drain?.runNow();
    },
    async runProber() {
      await system.tasks.probe?.runNow();
    },
    stop: () => stack.stop(),
  };
});
afterAll(() => stack?.stop());

defineAcceptance(() => target);
