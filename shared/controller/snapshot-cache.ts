/**
 * The cached controller snapshot of one process, and the rule that makes an operator's change
 * (critical key, override, hint) hold for every write that starts after the change's response, in
 * every container, with nothing read from the store on the hot path.
 *
 * A cached snapshot is a lease: it counts as fresh for `ttlMs` from the moment its read *started*
 * (not ended). A read that missed a change started before the change was stored, so its lease ends
 * at most `ttlMs` after the change was stored; the change's answer waits that long (`settle`), so
 * no container can still hold a fresh snapshot without it once the change has been answered.
 * Within this process, `invalidate()` starts a new epoch: a read in flight from before it is never
 * stored as fresh nor joined, so the process's own changes take effect at once.
 *
 * A refresh that fails is never papered over with the old snapshot (it could lack a critical key):
 * callers get the error (the mode source answers strong), and the store is asked again after a
 * short back-off rather than on every write.
 */
import type { Clock } from '../clock.js';
import type { ControlSnapshot } from './store.js';

export interface SnapshotCacheOptions {
  read: () => Promise<ControlSnapshot>;
  clock: Clock;
  /** How long a snapshot is served after its read started (ms); 0 reads on every lookup. */
  ttlMs: number;
  /** Called with every snapshot read (e.g. to adopt the shared health picture). */
  onRead?: (s: ControlSnapshot) => void;
  /** How `settle` waits (tests pass one that advances a fake clock). */
  sleep?: (ms: number) => Promise<void>;
}

interface Read {
  epoch: number;
  startedAt: number;
  promise: Promise<ControlSnapshot>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class SnapshotCache {
  private readonly o: SnapshotCacheOptions;
  private readonly sleep: (ms: number) => Promise<void>;
  private snap?: ControlSnapshot;
  /** When the read that produced `snap` started (clock ms). */
  private snapReadAt = -Infinity;
  private epoch = 0;
  private inflight?: Read;
  private failure?: { at: number; error: unknown };

  constructor(o: SnapshotCacheOptions) {
    this.o = o;
    this.sleep = o.sleep ?? realSleep;
  }

  get ttlMs(): number {
    return this.o.ttlMs;
  }

  /** The last snapshot read, fresh or not (views that only display it). */
  get last(): ControlSnapshot | undefined {
    return this.snap;
  }

  /** The cached snapshot if its lease still runs, else undefined. */
  fresh(): ControlSnapshot | undefined {
    return this.snap && this.o.clock.now() - this.snapReadAt < this.o.ttlMs ? this.snap : undefined;
  }

  /** A snapshot that includes every change answered before this call; rejects if the store fails. */
  async get(): Promise<ControlSnapshot> {
    return this.fresh() ?? this.refresh();
  }

  /** Forget the cached snapshot and any read in flight (after this process changed the state). */
  invalidate(): void {
    this.epoch++;
    this.snapReadAt = -Infinity;
    this.failure = undefined;
  }

  /**
   * Read the store, or join a read of this epoch that started less than a lease ago (its result
   * then holds every change answered before this call, as a read started now would).
   */
  refresh(): Promise<ControlSnapshot> {
    const now = this.o.clock.now();
    const r = this.inflight;
    if (r && r.epoch === this.epoch && now - r.startedAt < this.o.ttlMs) return r.promise;
    if (this.failure && now - this.failure.at < Math.max(this.o.ttlMs, 100)) return Promise.reject(this.failure.error);
    const read: Read = { epoch: this.epoch, startedAt: now, promise: undefined as unknown as Promise<ControlSnapshot> };
    read.promise = this.o.read().then(
      (s) => {
        if (read.epoch === this.epoch && read.startedAt > this.snapReadAt) {
          this.snap = s;
          this.snapReadAt = read.startedAt;
          this.failure = undefined;
        }
        this.o.onRead?.(s);
        if (this.inflight === read) this.inflight = undefined;
        return s;
      },
      (err: unknown) => {
        if (read.epoch === this.epoch) this.failure = { at: this.o.clock.now(), error: err };
        if (this.inflight === read) this.inflight = undefined;
        throw err;
      },
    );
    this.inflight = read;
    return read.promise;
  }

  /**
   * Wait until every lease that may predate a change stored at `storedAt` (clock ms, taken after
   * the store acknowledged it) has run out, with a margin for clock-rate differences between
   * containers. Call before answering the change.
   */
  async settle(storedAt: number): Promise<void> {
    if (this.o.ttlMs <= 0) return;
    const until = storedAt + this.o.ttlMs + Math.ceil(this.o.ttlMs / 100) + 5;
    const wait = until - this.o.clock.now();
    if (wait > 0) await this.sleep(wait);
  }
}
