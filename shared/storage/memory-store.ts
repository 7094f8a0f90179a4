/**
 * An in-memory ObjectStore: the fake of the replica port for fast tests and experiments.
 * `state` simulates a replica that refuses connections; `latencyMs` a slow one.
 */
import type { ObjectStore } from './ports.js';

export class MemoryObjectStore implements ObjectStore {
  readonly objects = new Map<string, Buffer>();
  state: 'up' | 'refuse' = 'up';
  latencyMs = 0;
  puts = 0;
  gets = 0;
  /** Every call made, refused ones included. */
  calls = 0;
  /** PUTs per key (to prove that an object was written exactly once). */
  readonly putsByKey = new Map<string, number>();

  constructor(readonly region: string) {}

  private async gate(op: string, signal?: AbortSignal): Promise<void> {
    this.calls += 1;
    if (this.latencyMs > 0) {
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, this.latencyMs);
        signal?.addEventListener('abort', () => {
          clearTimeout(t);
          reject(new Error(`aborted (${this.region} ${op})`));
        });
      });
    }
    if (this.state === 'refuse') throw Object.assign(new Error(`connect ECONNREFUSED (${this.region} ${op})`), { code: 'ECONNREFUSED' });
  }

  async put(key: string, body: Buffer, signal?: AbortSignal): Promise<void> {
    await this.gate('put', signal);
    this.puts += 1;
    this.putsByKey.set(key, (this.putsByKey.get(key) ?? 0) + 1);
    this.objects.set(key, Buffer.from(body));
  }

  async get(key: string, signal?: AbortSignal): Promise<Buffer | undefined> {
    await this.gate('get', signal);
    this.gets += 1;
    const b = this.objects.get(key);
    return b ? Buffer.from(b) : undefined;
  }

  async exists(key: string, signal?: AbortSignal): Promise<boolean> {
    await this.gate('exists', signal);
    return this.objects.has(key);
  }

  async delete(key: string, signal?: AbortSignal): Promise<void> {
    await this.gate('delete', signal);
    this.objects.delete(key);
  }

  async *list(prefix: string): AsyncIterable<{ key: string; size: number }> {
    await this.gate('list');
    for (const [key, b] of [...this.objects.entries()].sort(([a], [c]) => a.localeCompare(c))) {
      if (key.startsWith(prefix)) yield { key, size: b.length };
    }
  }

  async presignGet(key: string): Promise<string> {
    return `memory://${this.region}/${key}`;
  }
}
