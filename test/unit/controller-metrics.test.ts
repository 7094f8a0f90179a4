/**
 * The controller's EMF lines as CloudWatch reads them: one line per acknowledged write with its
 * mode as the only dimension besides the service (the single-metric instance is reused across
 * writes, so a write's mode must not leak into the next line), and a tick's lines unchanged.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { emfControllerMetrics, METRIC } from '../../shared/controller/metrics.js';
import { METRICS_NAMESPACE } from '../../shared/observability.js';

interface EmfLine {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
}

let lines: EmfLine[] = [];
let restoreEnv: string | undefined;

beforeEach(() => {
  restoreEnv = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  lines = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const l of String(chunk).split('\n')) if (l.startsWith('{"_aws"')) lines.push(JSON.parse(l) as EmfLine);
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  if (restoreEnv === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
  else process.env.POWERTOOLS_METRICS_DISABLED = restoreEnv;
});

describe('controller metrics in EMF', () => {
  it('each acknowledged write is one WriteLatency line under its own mode, from one reused single-metric instance', () => {
    const base = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'metrics-test' });
    const single = vi.spyOn(base, 'singleMetric');
    const sink = emfControllerMetrics(base);

    sink.writeLatency('C', 12);
    sink.writeLatency('A', 3);
    sink.writeLatency('H', 40);

    expect(single, 'one single-metric instance serves every write').toHaveBeenCalledTimes(1);
    expect(lines.map((l) => [l.mode, l[METRIC.writeLatency]])).toEqual([
      ['C', 12],
      ['A', 3],
      ['H', 40],
    ]);
    for (const l of lines) {
      const cw = l._aws.CloudWatchMetrics[0];
      expect(cw?.Namespace).toBe(METRICS_NAMESPACE);
      expect(cw?.Dimensions, 'service and mode only: no dimension carried over from an earlier write').toEqual([['service', 'mode']]);
      expect(cw?.Metrics).toEqual([{ Name: METRIC.writeLatency, Unit: 'Milliseconds' }]);
      expect(l.service).toBe('metrics-test');
    }
  });

  it('a tick writes its global line and one line per region, unaffected by write lines before it', () => {
    const base = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: 'metrics-test' });
    const sink = emfControllerMetrics(base);
    sink.writeLatency('C', 5);
    lines = [];

    sink.tick({
      mode: 'H',
      score: 0.4,
      inputs: { partition: 0.1, lag: 0.2, writes: 0.3, hint: 0, penalty: 0 },
      changed: true,
      backlog: 7,
      lagMs: 1500,
      probes: [
        { region: 'us-east-1', latencyMs: 20, reachable: true },
        { region: 'eu-west-1', reachable: false },
      ],
    });

    const global = lines.find((l) => METRIC.mode in l);
    expect(global, 'the global line').toBeDefined();
    expect(global?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service']]);
    expect(global?.[METRIC.mode]).toBe(1);
    expect(global?.[METRIC.backlog]).toBe(7);
    expect(global).not.toHaveProperty('mode');
    const regional = lines.filter((l) => 'region' in l).map((l) => [l.region, l[METRIC.reachable] ?? null, l[METRIC.probeLatency] ?? null]);
    expect(regional).toEqual([
      ['us-east-1', 1, null],
      ['us-east-1', null, 20],
      ['eu-west-1', 0, null],
    ]);
  });
});
