/**
 * The single logger and metrics instance for every function and the local runtime.
 * Logs are structured JSON (Powertools Logger); metrics are CloudWatch Embedded Metric Format
 * lines (Powertools Metrics), which locally simply go to stdout.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const SERVICE_NAME = 'echofs';
export const METRICS_NAMESPACE = 'EchoFS';

type ExtraInput = Parameters<Logger['info']> extends [unknown, ...infer R] ? R : never;

/**
 * The Powertools logger, except that a `message` key among a log call's extra attributes is kept
 * (as `detail`): Powertools silently drops it, as it is the log line's own key, and with it the
 * cause of a failed request (`log.warn('request failed', { message: err.message })`).
 */
export class EchoLogger extends Logger {
  protected override processLogItem(logLevel: number, input: Parameters<Logger['info']>[0], extraInput: ExtraInput): void {
    const kept = extraInput.map((x) => {
      if (!x || typeof x !== 'object' || x instanceof Error || !('message' in x)) return x;
      const { message, ...rest } = x as Record<string, unknown>;
      return { ...rest, detail: message };
    }) as ExtraInput;
    super.processLogItem(logLevel, input, kept);
  }
}

export const logger: Logger = new EchoLogger({
  serviceName: SERVICE_NAME,
  logLevel: (process.env.ECHOFS_LOG_LEVEL ?? process.env.POWERTOOLS_LOG_LEVEL ?? (process.env.VITEST ? 'ERROR' : 'INFO')) as 'INFO',
});

export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });

export { MetricUnit };
