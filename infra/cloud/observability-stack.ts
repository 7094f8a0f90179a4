/**
 * Observability in the home region: one CloudWatch dashboard (mode over time, score parts,
 * per-region probe latency and reachability, backlog and lag, write latency by mode, errors) and
 * the alarms (replication lag above a bound, a majority of replicas unreachable, API 5xx rate).
 * Metric names and dimensions come from contracts.ts, which follows what the functions emit.
 */
import { Duration, Stack, type StackProps, CfnOutput } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { METRICS } from './contracts.js';
import type { EchoSettings } from './settings.js';

export interface ObservabilityStackProps extends StackProps {
  settings: EchoSettings;
  api: apigwv2.IHttpApi;
  /** Functions whose errors and throttles are charted, by role. */
  functions: Record<string, lambda.IFunction>;
}

const PERIOD = Duration.minutes(1);

/** A metric the EchoFS functions emit (EMF through Powertools). */
export function echoMetric(metricName: string, statistic: string, dimensions: Record<string, string> = {}, label?: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS.namespace,
    metricName,
    dimensionsMap: { ...METRICS.baseDimensions, ...dimensions },
    statistic,
    period: PERIOD,
    label,
  });
}

export class ObservabilityStack extends Stack {
  readonly dashboard: cloudwatch.Dashboard;
  readonly alarmTopic: sns.Topic;
  readonly lagAlarm: cloudwatch.Alarm;
  readonly majorityUnreachableAlarm: cloudwatch.Alarm;
  readonly serverErrorAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: ObservabilityStackProps) {
    super(scope, id, props);
    const { settings } = props;
    const regions = settings.regions;
    const majority = Math.floor(regions.length / 2) + 1;
    const modes = ['C', 'H', 'A'];

    this.alarmTopic = new sns.Topic(this, 'Alarms', { displayName: 'EchoFS alarms', enforceSSL: true });
    if (settings.alarmEmail) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(settings.alarmEmail));
    const notify = new cwActions.SnsAction(this.alarmTopic);

    // ---- alarms
    // Alarm metrics carry no label (a label turns the alarm into a metric-math alarm).
    const lag = echoMetric(METRICS.lag, 'Maximum');
    this.lagAlarm = new cloudwatch.Alarm(this, 'ReplicationLagAlarm', {
      alarmDescription: `Replication lag above ${settings.maxLagSeconds} s for 5 minutes: replicas are falling behind the acknowledged writes`,
      metric: lag,
      threshold: settings.maxLagSeconds * METRICS.lagPerSecond,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 5,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    const unreachable = echoMetric(METRICS.unreachableReplicas, 'Maximum');
    this.majorityUnreachableAlarm = new cloudwatch.Alarm(this, 'MajorityUnreachableAlarm', {
      alarmDescription: `${majority} or more of ${regions.length} replicas unreachable: strong writes are impossible, the controller has switched to available mode`,
      metric: unreachable,
      threshold: majority,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      // The prober emits every minute: silence means it is not running, which is itself bad.
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    const apiErrorRate = new cloudwatch.MathExpression({
      expression: 'IF(requests > 0, 100 * errors / requests, 0)',
      usingMetrics: {
        errors: props.api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }),
        requests: props.api.metricCount({ period: Duration.minutes(5), statistic: 'Sum' }),
      },
      label: 'API 5xx %',
      period: Duration.minutes(5),
    });
    this.serverErrorAlarm = new cloudwatch.Alarm(this, 'ApiServerErrorRateAlarm', {
      alarmDescription: 'More than 5% of API requests answered 5xx over 10 minutes',
      metric: apiErrorRate,
      threshold: 5,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const alarm of [this.lagAlarm, this.majorityUnreachableAlarm, this.serverErrorAlarm]) {
      alarm.addAlarmAction(notify);
      alarm.addOkAction(notify);
    }

    // ---- dashboard
    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `${settings.namePrefix}-${this.region}`,
      defaultInterval: Duration.hours(3),
    });
    const wide = 12;
    this.dashboard.addWidgets(
      new cloudwatch.TextWidget({
        markdown: `# EchoFS\nMode: 0 = strong (C), 1 = hybrid (H), 2 = available (A). Replicas: ${regions.join(', ')}; majority ${majority}.`,
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Consistency mode over time',
        left: [echoMetric(METRICS.mode, 'Maximum', {}, 'mode')],
        leftYAxis: { min: 0, max: 2, showUnits: false },
        width: wide,
      }),
      new cloudwatch.GraphWidget({
        title: 'Score and its parts',
        left: [echoMetric(METRICS.score, 'Average', {}, 'score'), ...METRICS.scoreParts.map((p) => echoMetric(p, 'Average', {}, p))],
        leftYAxis: { min: -0.2, max: 1, showUnits: false },
        leftAnnotations: [
          { value: 0.6, label: 'A above', color: '#d62728' },
          { value: 0.3, label: 'C below', color: '#2ca02c' },
        ],
        width: wide,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Probe latency by region (p50, p99)',
        left: regions.flatMap((r) => [
          echoMetric(METRICS.probeLatency, 'p50', { [METRICS.regionDimension]: r }, `${r} p50`),
          echoMetric(METRICS.probeLatency, 'p99', { [METRICS.regionDimension]: r }, `${r} p99`),
        ]),
        width: wide,
      }),
      new cloudwatch.GraphWidget({
        title: 'Reachability by region (1 = reachable)',
        left: regions.map((r) => echoMetric(METRICS.reachable, 'Minimum', { [METRICS.regionDimension]: r }, r)),
        right: [echoMetric(METRICS.unreachableReplicas, 'Maximum', {}, 'unreachable replicas')],
        leftYAxis: { min: 0, max: 1, showUnits: false },
        width: wide,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Replication backlog and lag',
        left: [echoMetric(METRICS.backlog, 'Maximum', {}, 'pending placements')],
        right: [echoMetric(METRICS.lag, 'Maximum', {}, 'oldest pending placement (ms)')],
        rightAnnotations: [{ value: settings.maxLagSeconds * METRICS.lagPerSecond, label: 'lag alarm' }],
        width: wide,
      }),
      new cloudwatch.GraphWidget({
        title: 'Write latency by mode (p50, p99)',
        left: modes.flatMap((m) => [
          echoMetric(METRICS.writeLatency, 'p50', { [METRICS.modeDimension]: m }, `${m} p50`),
          echoMetric(METRICS.writeLatency, 'p99', { [METRICS.modeDimension]: m }, `${m} p99`),
        ]),
        width: wide,
      }),
    );
    const fnEntries = Object.entries(props.functions);
    this.dashboard.addWidgets(
      new cloudwatch.GraphWidget({
        title: 'Function errors and throttles',
        left: fnEntries.map(([name, fn]) => fn.metricErrors({ period: PERIOD, label: `${name} errors` })),
        right: fnEntries.map(([name, fn]) => fn.metricThrottles({ period: PERIOD, label: `${name} throttles` })),
        width: wide,
      }),
      new cloudwatch.GraphWidget({
        title: 'API requests and errors',
        left: [props.api.metricCount({ period: PERIOD, label: 'requests' })],
        right: [props.api.metricClientError({ period: PERIOD, label: '4xx' }), props.api.metricServerError({ period: PERIOD, label: '5xx' })],
        width: wide,
      }),
    );
    this.dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [this.lagAlarm, this.majorityUnreachableAlarm, this.serverErrorAlarm], width: 24 }),
    );

    new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboardName });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
  }
}
