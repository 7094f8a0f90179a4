/**
 * CDK app entry (cdk.json: `npx tsx infra/cloud/app.ts`). Settings come from cdk.json context;
 * see settings.ts for each key and its default. `-c echofs:nag=false` skips the cdk-nag checks.
 */
import { App } from 'aws-cdk-lib';
import { buildEchoApp } from './echo-app.js';

const app = new App();
const nag = String(app.node.tryGetContext('echofs:nag') ?? 'true') !== 'false';
buildEchoApp(app, { nag });
app.synth();
