/**
 * Wait for a condition instead of sleeping: polls `fn` until it returns a truthy value (which is
 * returned), or fails naming what it waited for. The default budget scales with the machine's load.
 */
import { scaled } from './load.js';

type Falsy = undefined | null | false | 0 | '';

export async function waitFor<T>(fn: () => T | Falsy | Promise<T | Falsy>, what: string, timeoutMs = scaled(10_000), pollMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
