/**
 * Every cdk-nag suppression of EchoFS, each with its reason. Nothing is suppressed anywhere else.
 * Suppressions name the rule and, for the granular IAM rules, the exact findings they accept.
 */

import { RemovalPolicy } from 'aws-cdk-lib';
import { NagSuppressions, type NagPackSuppression } from 'cdk-nag';
import type { CoreStack } from './core-stack.js';
import type { ObservabilityStack } from './observability-stack.js';
import type { ReplicaStack } from './replica-stack.js';
import type { EchoSettings } from './settings.js';
import type { WebStack } from './web-stack.js';

export interface SuppressionTargets {
  settings: EchoSettings;
  replicas: readonly ReplicaStack[];
  core: CoreStack;
  web: WebStack;
  observability: ObservabilityStack;
}

const LAMBDA_BASIC_EXECUTION = 'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole';

const S3_ACCESS_LOGS_OFF: NagPackSuppression = {
  id: 'AwsSolutions-S1',
  reason:
    'S3 server access logs are optional (context echofs:accessLogs=true turns them on); requests to the chunk buckets are made by the EchoFS functions, whose own logs record every object they touch.',
};

const NODE_22: NagPackSuppression = {
  id: 'AwsSolutions-L1',
  reason: 'EchoFS pins Node.js 22 on Lambda (the runtime its code and tests target); it moves to a newer runtime deliberately, not whenever one appears.',
};

const BASIC_EXECUTION_ROLE: NagPackSuppression = {
  id: 'AwsSolutions-IAM4',
  reason: 'AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch logs; it is the standard minimal execution policy.',
  appliesTo: [LAMBDA_BASIC_EXECUTION],
};

/** `<Fn.Arn>:*` findings: invoke permission on a function's versions and aliases. */
const FUNCTION_VERSIONS = /^Resource::<[A-Za-z0-9]+\.Arn>:\*$/;

export function applyNagSuppressions(t: SuppressionTargets): void {
  // ---- replicas
  for (const replica of t.replicas) {
    if (!t.settings.accessLogs) NagSuppressions.addResourceSuppressions(replica.bucket, [S3_ACCESS_LOGS_OFF]);
    const logs = replica.node.tryFindChild('AccessLogs');
    if (logs) {
      NagSuppressions.addResourceSuppressions(logs, [
        { id: 'AwsSolutions-S1', reason: 'This bucket is the destination of the access logs; logging it into itself would loop.' },
      ]);
    }
  }

  // ---- core
  const core = t.core;
  for (const fn of Object.values(core.functions)) {
    NagSuppressions.addResourceSuppressions(fn, [NODE_22, BASIC_EXECUTION_ROLE], true);
  }
  NagSuppressions.addResourceSuppressions(core.jwtSecret, [
    {
      id: 'AwsSolutions-SMG4',
      reason: 'Rotating the JWT signing key would sign every user out at once; it is rotated on purpose (a new secret version), not on a timer. Individual tokens are revoked through the per-user token version in the catalog.',
    },
  ]);
  NagSuppressions.addResourceSuppressions(core.adminToken, [
    {
      id: 'AwsSolutions-SMG4',
      reason: 'The admin bootstrap token is needed only to create or promote an account of the configured admin list; it grants nothing once those accounts exist, and it is read on every use, so an operator rotates it by putting a new value (README, "Administrators") rather than through a rotation function.',
    },
  ]);
  for (const secret of [core.catalogSecret, core.catalogAppSecret]) {
    NagSuppressions.addResourceSuppressions(secret, [
      {
        id: 'AwsSolutions-SMG4',
        reason: 'The catalog credentials are used only through the RDS Data API; a rotation function would need a network path into the isolated VPC (NAT or endpoints), which EchoFS deliberately does not have. The runtime role can only read and write rows, and its password is re-set from its secret on every deploy.',
      },
    ]);
  }
  NagSuppressions.addResourceSuppressions(
    core.cluster,
    [
      {
        id: 'AwsSolutions-RDS11',
        reason: 'The cluster lives in isolated subnets with no route to or from the internet and is reached only through the Data API; a non-default port adds nothing.',
      },
      {
        id: 'AwsSolutions-RDS10',
        reason:
          t.settings.removalPolicy === RemovalPolicy.DESTROY
            ? 'The operator chose echofs:removalPolicy=destroy (a disposable deployment): nothing is protected.'
            : "Deletion protection is not set when the cluster is created, so that a failed first deploy can roll back; the stack's last step (Custom::EchoFSDeletionProtection, after every other resource) switches it on.",
      },
    ],
    true,
  );
  NagSuppressions.addResourceSuppressions(
    core.api,
    [
      {
        id: 'AwsSolutions-APIG4',
        reason: 'Authorisation is enforced inside the functions from the shared route table (auth: none/user/admin, JWT bearer tokens), identically in the cloud and locally; an API Gateway authorizer would duplicate it.',
      },
    ],
    true,
  );
  for (const fn of [core.functions.files, core.functions.filesStream, core.functions.prober, core.functions.replicator]) {
    NagSuppressions.addResourceSuppressions(
      fn,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason: 'Chunk keys are content hashes under a fixed prefix (chunks/<owner>/<sha256>, or probe/<region> for the prober), so object access can only be granted by prefix; the prefix wildcard is the narrowest possible scope.',
          appliesTo: [{ regex: '/^Resource::arn:<AWS::Partition>:s3:::.*\\/(chunks|probe)\\/\\*$/g' }],
        },
      ],
      true,
    );
  }
  for (const fn of [core.functions.files, core.functions.filesStream]) {
    NagSuppressions.addResourceSuppressions(
      fn,
      [{ id: 'AwsSolutions-IAM5', reason: 'lambda:InvokeFunction on the replicator and its versions (the grant CDK generates for one function).', appliesTo: [{ regex: FUNCTION_VERSIONS.toString() + 'g' }] }],
      true,
    );
  }
  const stackWide: NagPackSuppression[] = [
    {
      id: 'AwsSolutions-IAM5',
      reason: 'EventBridge Scheduler and the custom-resource provider may invoke exactly one function (and its versions); this is the grant CDK generates for that function.',
      appliesTo: [{ regex: FUNCTION_VERSIONS.toString() + 'g' }],
    },
    {
      id: 'AwsSolutions-IAM4',
      reason: 'The CDK custom-resource provider and log-retention functions use AWSLambdaBasicExecutionRole only to write their own logs.',
      appliesTo: [LAMBDA_BASIC_EXECUTION],
    },
    { id: 'AwsSolutions-L1', reason: 'The custom-resource provider framework function and the AwsCustomResource function (deletion protection) are created by CDK with the runtime CDK chooses for them.' },
  ];
  NagSuppressions.addStackSuppressions(core, stackWide);

  // ---- web
  const web = t.web;
  if (!t.settings.accessLogs) {
    NagSuppressions.addResourceSuppressions(web.bucket, [
      { id: 'AwsSolutions-S1', reason: 'The site bucket holds only the public build of the web app and is read only by CloudFront; access logs are optional (echofs:accessLogs).' },
    ]);
  }
  const webLogs = web.node.tryFindChild('AccessLogs');
  if (webLogs) {
    NagSuppressions.addResourceSuppressions(webLogs, [{ id: 'AwsSolutions-S1', reason: 'This bucket is the destination of the access logs; logging it into itself would loop.' }]);
  }
  const cdn: NagPackSuppression[] = [
    { id: 'AwsSolutions-CFR1', reason: 'EchoFS serves its users wherever they are; there is no country to exclude by default.' },
    { id: 'AwsSolutions-CFR2', reason: 'Authentication, validation and rate limits (API throttling, quotas) sit in the API; a WAF web ACL is an operator choice with its own cost and can be attached to the distribution later.' },
  ];
  if (!t.settings.accessLogs) {
    cdn.push({ id: 'AwsSolutions-CFR3', reason: 'CloudFront standard logs are optional (echofs:accessLogs=true); API requests are logged by the HTTP API access log.' });
  }
  if (!t.settings.certificateArn) {
    cdn.push({
      id: 'AwsSolutions-CFR4',
      reason: 'Without a custom domain the distribution uses the default *.cloudfront.net certificate, whose security policy cannot be changed; with echofs:domainName and echofs:certificateArn it requires TLS 1.2.',
    });
  }
  NagSuppressions.addResourceSuppressions(web.distribution, cdn, true);
  NagSuppressions.addStackSuppressions(web, [
    {
      id: 'AwsSolutions-IAM4',
      reason: 'The CDK-managed BucketDeployment and auto-delete functions use AWSLambdaBasicExecutionRole only to write their own logs.',
      appliesTo: [LAMBDA_BASIC_EXECUTION],
    },
    {
      id: 'AwsSolutions-IAM5',
      reason: 'The CDK-managed BucketDeployment function copies the built site into the site bucket and invalidates the distribution; its grants are scoped to that bucket and the staging assets.',
    },
    { id: 'AwsSolutions-L1', reason: 'The CDK-managed BucketDeployment function runs the runtime CDK chooses for it.' },
  ]);

  // ---- observability
  NagSuppressions.addResourceSuppressions(t.observability.alarmTopic, [
    {
      id: 'AwsSolutions-SNS2',
      reason: 'Alarm notifications carry no sensitive data, and CloudWatch alarms cannot publish to a topic encrypted with the AWS managed SNS key; a customer key adds cost for nothing here.',
    },
  ]);
}
