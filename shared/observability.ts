/**
 * The single logger and metrics instance for every function and the local runtime.
 * Logs are structured JSON (Powertools Logger); metrics are CloudWatch Embedded Metric Format
 * lines (Powertools Metrics), which locally simply go to stdout.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

export const SERVICE_NAME = 'echofs';
export const METRICS_NAMESPACE = 'EchoFS';

export const logger = new Logger({
  serviceName: SERVICE_NAME,
  logLevel: (process.env.ECHOFS_LOG_LEVEL ?? process.env.POWERTOOLS_LOG_LEVEL ?? (process.env.VITEST ? 'ERROR' : 'INFO')) as 'INFO',
});

export const metrics = new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME });

export { MetricUnit };
