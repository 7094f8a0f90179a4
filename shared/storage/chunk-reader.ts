/**
 * The chunk reader: fetches one chunk from the best healthy holder and verifies it against its
 * hash; a missing or corrupt copy is skipped, the next holder tried, and the bad copy queued for
 * repair. Under latency stress a read is hedged to a further holder.
 */
import { Unavailable } from '../errors.js';
import { logger, metrics, MetricUnit } from '../observability.js';
import type { Placement } from '../catalog/repository.js';
import { CorruptChunk, decodeChunk } from './codec.js';
import { errMessage, type EngineContext } from './context.js';
import { chunkKey } from './ports.js';

export interface Holder {
  region: string;
  present: boolean;
}

export class ChunkReader {
  constructor(private readonly ctx: EngineContext) {}

  /** Mark a copy bad (missing or corrupt): it joins the repair backlog. */
  private async markMissing(ownerId: string, hash: string, region: string, reason: string): Promise<void> {
    await this.ctx.catalog.markMissing(ownerId, hash, region, reason, this.ctx.now());
    metrics.addMetric('ChunkCopyBad', MetricUnit.Count, 1);
    logger.warn('bad chunk copy queued for repair', { region, hash, reason });
    this.ctx.kick();
  }

  /** Holders of a chunk in read order: healthy present copies best first, then the rest, then pending ones. */
  readOrder(placements: Placement[]): Holder[] {
    const present = placements.filter((p) => p.state === 'present' && this.ctx.stores.has(p.region)).map((p) => p.region);
    const ranked = this.ctx.health.ranked(present);
    const rest = present.filter((r) => !ranked.includes(r));
    const pending = placements.filter((p) => p.state === 'pending' && this.ctx.stores.has(p.region)).map((p) => p.region);
    return [...ranked.map((region) => ({ region, present: true })), ...rest.map((region) => ({ region, present: true })), ...pending.map((region) => ({ region, present: false }))];
  }

  private async fetchFrom(ownerId: string, hash: string, region: string, present: boolean, signal?: AbortSignal): Promise<Buffer> {
    const store = this.ctx.store(region);
    const stored = await this.ctx.timed(region, () => store.get(chunkKey(ownerId, hash), signal), signal);
    if (stored === undefined) {
      if (present) await this.markMissing(ownerId, hash, region, 'object not found on read');
      throw new CorruptChunk(hash, `missing in ${region}`);
    }
    try {
      return await decodeChunk(stored, hash);
    } catch (err) {
      if (present && err instanceof CorruptChunk) await this.markMissing(ownerId, hash, region, err.message);
      throw err;
    }
  }

  /**
   * Fetch and verify one chunk from the best holder. Without hedging, holders are tried one after
   * another. With hedging, the next holder is also asked whenever the ones in flight have been
   * silent for the hedge delay (or have failed): the first verified copy wins, so a black-holed
   * replica costs a read at most the hedge delay, not a timeout. The slower requests are left to
   * finish in the background (bounded by the replica timeout): their outcome still feeds the
   * health picture, and a bad copy they find is still queued for repair.
   */
  async readChunk(ownerId: string, hash: string, placements: Placement[], hedge = false): Promise<Buffer> {
    const order = this.readOrder(placements);
    if (order.length === 0) throw new Unavailable(`Chunk ${hash.slice(0, 12)}… has no replica holding it. Retry later.`, 5, 'chunk_unavailable');
    if (!hedge) {
      const errors: string[] = [];
      for (const h of order) {
        try {
          return await this.fetchFrom(ownerId, hash, h.region, h.present);
        } catch (err) {
          errors.push(`${h.region}: ${errMessage(err)}`);
        }
      }
      throw new Unavailable(`Chunk ${hash.slice(0, 12)}… could not be read from any replica (${errors.join('; ')}). Retry later.`, 5, 'chunk_unavailable');
    }
    return this.hedged(ownerId, hash, order);
  }

  private hedged(ownerId: string, hash: string, order: Holder[]): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const errors: string[] = [];
      let next = 0;
      let inFlight = 0;
      let done = false;
      let timer: NodeJS.Timeout | undefined;
      const launch = () => {
        clearTimeout(timer);
        if (done || next >= order.length) return;
        const h = order[next] as Holder;
        if (next > 0) metrics.addMetric('ReadHedged', MetricUnit.Count, 1);
        next += 1;
        inFlight += 1;
        const fetched = this.fetchFrom(ownerId, hash, h.region, h.present);
        this.ctx.track(fetched.then(() => undefined, () => undefined));
        fetched.then(
          (buf) => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            resolve(buf);
          },
          (err: unknown) => {
            inFlight -= 1;
            if (done) return;
            errors.push(`${h.region}: ${errMessage(err)}`);
            if (next < order.length) launch();
            else if (inFlight === 0) {
              done = true;
              reject(new Unavailable(`Chunk ${hash.slice(0, 12)}… could not be read from any replica (${errors.join('; ')}). Retry later.`, 5, 'chunk_unavailable'));
            }
          },
        );
        // Hedge only when the holder is slower than it usually is: 3x its observed latency, at
        // least 50 ms (no duplicate GETs under normal jitter), at most 500 ms.
        if (next < order.length) {
          const delay = Math.min(500, Math.max(50, 3 * (this.ctx.health.latency?.(h.region) ?? 25)));
          timer = setTimeout(launch, delay);
          timer.unref?.();
        }
      };
      launch();
    });
  }

}
