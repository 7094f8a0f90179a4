import { describe, expect, it } from 'vitest';
import { coldStart, type Services } from '#shared/runtime.js';

describe('coldStart', () => {
  it('builds the services once for every request of a warm function', async () => {
    let builds = 0;
    const get = coldStart((s: Services) => ({ s }), async () => {
      builds += 1;
      return { config: {} } as Services;
    });
    const [a, b] = await Promise.all([get(), get()]);
    expect(await get()).toBe(a);
    expect(b).toBe(a);
    expect(builds).toBe(1);
  });

  it('forgets a failed start so the next request tries again', async () => {
    let builds = 0;
    const get = coldStart(
      () => 'handler',
      async () => {
        builds += 1;
        if (builds === 1) throw new Error('catalog resuming');
        return {} as Services;
      },
    );
    await expect(get()).rejects.toThrow('catalog resuming');
    expect(await get()).toBe('handler');
    expect(builds).toBe(2);
  });
});
