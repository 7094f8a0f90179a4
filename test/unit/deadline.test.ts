/**
 * The request deadline (shared/deadline.ts): a request that has not reached its commit point when
 * its budget runs out is answered with the timeout and can no longer commit; one whose commit has
 * started is answered with the commit's outcome, however late.
 */
import { describe, expect, it } from 'vitest';
import { commitPoint, currentDeadline, RequestTimeout, runWithDeadline } from '#shared/deadline.js';
import { waitFor } from '../helpers/wait.js';

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

describe('runWithDeadline', () => {
  it('answers the timeout when the budget runs out before the commit point, and the late work cannot commit', async () => {
    const g = gate();
    let committed = false;
    let lateError: unknown;
    let hookRan = false;
    const work = async () => {
      currentDeadline()?.onExpire(async () => {
        hookRan = true;
      });
      await g.opened;
      try {
        await commitPoint(async () => {
          committed = true;
        });
      } catch (err) {
        lateError = err;
      }
      return 'work';
    };
    const answer = await runWithDeadline(20, work, () => 'timeout');
    expect(answer).toBe('timeout');
    expect(hookRan, 'the expiry hooks run before the timeout answer').toBe(true);
    g.open();
    await waitFor(() => lateError !== undefined || committed, 'the late work to reach its commit point');
    expect(committed, 'a timed-out request must not commit').toBe(false);
    expect(lateError).toBeInstanceOf(RequestTimeout);
    expect((lateError as RequestTimeout).status).toBe(504);
  });

  it('once the commit has started, its outcome is the answer even past the budget', async () => {
    const g = gate();
    const work = () =>
      commitPoint(async () => {
        await g.opened;
        return 'committed';
      });
    const t0 = Date.now();
    const answer = runWithDeadline(20, work, () => 'timeout');
    // Let the budget pass while the commit is under way, then finish it.
    await waitFor(() => Date.now() - t0 > 60, 'the budget to pass');
    g.open();
    expect(await answer).toBe('committed');
  });

  it('answers with the work when it ends in time, and runs no expiry hook', async () => {
    let hookRan = false;
    const answer = await runWithDeadline(
      10_000,
      async () => {
        currentDeadline()?.onExpire(async () => {
          hookRan = true;
        });
        return commitPoint(async () => 'done');
      },
      () => 'timeout',
    );
    expect(answer).toBe('done');
    expect(hookRan).toBe(false);
  });
});
