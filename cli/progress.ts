/**
 * Transfer progress on stderr: a bar with speed and ETA on a terminal (cli-progress), a plain line
 * every few seconds when stderr is a file or a pipe, nothing with --json or --quiet.
 */
import cliProgress from 'cli-progress';
import { formatBytes, formatDuration } from './format.js';

export interface Progress {
  /** Start a phase (hashing, uploading, downloading) of `total` bytes. */
  start(label: string, total: number): void;
  advance(bytes: number): void;
  /** What the phase is working on now (a file name). */
  detail(text: string): void;
  /** End the phase (ok: it completed; otherwise it stopped where it was). */
  stop(ok?: boolean): void;
  /** A line for the person watching (a retry, a resumed upload), kept clear of the bar. */
  note(line: string): void;
}

export type ProgressStyle = 'bar' | 'plain' | 'none';

export interface Writer {
  write(s: string): unknown;
}

/** Bytes per second over the last few seconds of a transfer. */
export class SpeedMeter {
  private samples: { t: number; done: number }[] = [];
  constructor(
    private readonly windowMs = 3000,
    private readonly now: () => number = () => performance.now(),
  ) {}
  reset(): void {
    this.samples = [];
  }
  sample(done: number): void {
    const t = this.now();
    this.samples.push({ t, done });
    while (this.samples.length > 2 && t - (this.samples[0] as { t: number }).t > this.windowMs) this.samples.shift();
  }
  /** Bytes/s, or undefined before there is enough to tell. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.t - first.t < 200) return undefined;
    return ((last.done - first.done) * 1000) / (last.t - first.t);
  }
}

function eta(remaining: number, rate: number | undefined): string {
  if (remaining <= 0) return '0s';
  if (!rate || rate <= 0) return '--';
  return formatDuration(remaining / rate);
}

const speedText = (rate: number | undefined) => (rate === undefined ? '--' : `${formatBytes(rate)}/s`);

class BarProgress implements Progress {
  private multi: cliProgress.MultiBar | undefined;
  private bar: cliProgress.SingleBar | undefined;
  private readonly meter = new SpeedMeter();
  private done = 0;
  private total = 0;
  private label = '';
  private text = '';

  constructor(private readonly stream: NodeJS.WritableStream) {}

  private payload() {
    this.meter.sample(this.done);
    const rate = this.meter.rate();
    return { label: this.label, done: formatBytes(this.done), size: formatBytes(this.total), speed: speedText(rate), eta: eta(this.total - this.done, rate), detail: this.text };
  }

  start(label: string, total: number): void {
    this.stop();
    this.label = label;
    this.total = total;
    this.done = 0;
    this.text = '';
    this.meter.reset();
    // One MultiBar per phase: a stopped one keeps drawing its old bars. MultiBar (not SingleBar)
    // for its log(), which prints a line above the bar without tearing it.
    this.multi = new cliProgress.MultiBar(
      {
        stream: this.stream,
        format: '{label} |{bar}| {percentage}% {done}/{size} {speed} ETA {eta} {detail}',
        barCompleteChar: '\u2588',
        barIncompleteChar: '\u2591',
        barsize: 30,
        fps: 8,
        autopadding: true,
      },
      cliProgress.Presets.shades_classic,
    );
    // cli-progress divides by the total: an empty transfer is drawn as 1 of 1 when it ends.
    this.bar = this.multi.create(Math.max(total, 1), 0, this.payload());
  }

  advance(bytes: number): void {
    this.done += bytes;
    this.bar?.update(Math.min(this.done, Math.max(this.total, 1)), this.payload());
  }

  detail(text: string): void {
    this.text = text;
    this.bar?.update(Math.min(this.done, Math.max(this.total, 1)), this.payload());
  }

  stop(ok = true): void {
    if (!this.multi || !this.bar) return;
    if (ok) this.bar.update(Math.max(this.total, 1), this.payload());
    this.multi.stop();
    this.multi = undefined;
    this.bar = undefined;
  }

  note(line: string): void {
    if (this.multi) this.multi.log(`${line}\n`);
    else this.stream.write(`${line}\n`);
  }
}

class LineProgress implements Progress {
  private readonly meter = new SpeedMeter(5000);
  private done = 0;
  private total = 0;
  private label = '';
  private text = '';
  private started = 0;
  private lastLine = 0;
  private active = false;

  constructor(
    private readonly out: Writer,
    private readonly everyMs = 2000,
  ) {}

  private line(final: boolean): string {
    const pct = this.total > 0 ? Math.floor((this.done / this.total) * 100) : 100;
    const rate = this.meter.rate();
    const head = `echofs: ${this.label}${this.text ? ` ${this.text}` : ''}: ${formatBytes(this.done)}/${formatBytes(this.total)} (${pct}%)`;
    if (final) {
      const secs = (performance.now() - this.started) / 1000;
      return `${head} in ${formatDuration(secs)}${secs > 0 ? `, ${formatBytes(this.done / secs)}/s` : ''}\n`;
    }
    return `${head} ${speedText(rate)} ETA ${eta(this.total - this.done, rate)}\n`;
  }

  start(label: string, total: number): void {
    this.stop();
    this.label = label;
    this.total = total;
    this.done = 0;
    this.text = '';
    this.meter.reset();
    this.started = performance.now();
    this.lastLine = this.started;
    this.active = true;
  }

  advance(bytes: number): void {
    this.done += bytes;
    this.meter.sample(this.done);
    const now = performance.now();
    if (now - this.lastLine >= this.everyMs && this.done < this.total) {
      this.lastLine = now;
      this.out.write(this.line(false));
    }
  }

  detail(text: string): void {
    this.text = text;
  }

  stop(ok = true): void {
    if (!this.active) return;
    this.active = false;
    this.out.write(ok ? this.line(true) : `echofs: ${this.label} stopped at ${formatBytes(this.done)}/${formatBytes(this.total)}\n`);
  }

  note(line: string): void {
    this.out.write(`${line}\n`);
  }
}

class NoProgress implements Progress {
  start(): void {}
  advance(): void {}
  detail(): void {}
  stop(): void {}
  note(): void {}
}

export function createProgress(style: ProgressStyle, stderr: NodeJS.WritableStream): Progress {
  if (style === 'bar') return new BarProgress(stderr);
  if (style === 'plain') return new LineProgress(stderr);
  return new NoProgress();
}
