/**
 * The Lambda-shaped test runtime: the CDK app's own synthesized bundles, each function in a pool of
 * child-process containers (containers.ts) with exactly the template's environment, behind
 * emulators that speak the AWS protocols: S3 (one s3rver per region behind a fault proxy, reached
 * through one endpoint that routes by the request's signed region), DynamoDB (dynalite), the RDS
 * Data API (over PostgreSQL when DATABASE_URL is set, else PGlite), Secrets Manager and Lambda
 * Invoke. In front, what clients see: the API Gateway HTTP API (payload 2.0, the template's routes)
 * and the streaming Function URL, on one origin routed like the CloudFront distribution (the download
 * behaviour's viewer-request function, forwarded headers and origin access control: cloudfront.ts).
 *
 * Deployment is emulated too: the DynamoDB table is created from its template properties, and the
 * migrations custom resource runs (a CloudFormation Create event through the Provider framework's
 * onEvent shape) before the API takes requests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { CreateTableCommand, DynamoDBClient, UpdateTimeToLiveCommand, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { startEmulators, type Emulators } from '#local/emulators.js';
import { startFaultProxy, type FaultProxy } from '#local/faultproxy.js';
import { faultControl, type FaultControl } from '#local/faults.js';
import { buildEvent } from '#local/adapter.js';
import type { Route as SharedRoute } from '#shared/routes.js';
import { listen, readBody, type Listening } from '#emulators/http.js';
import { startS3RegionRouter } from '#emulators/s3-regions.js';
import { pgliteBackend, postgresBackend, secretsManagerReader, startDataApi, type DataApiBackend, type DataApiEmulator } from '#emulators/data-api.js';
import { startSecretsManager, type SecretsManagerEmulator } from '#emulators/secrets-manager.js';
import { startLambdaInvoke, type LambdaInvokeEmulator } from '#emulators/lambda-invoke.js';
import { DOWNLOAD_PATH_PATTERN } from '../../infra/cloud/web-stack.js';
import { createHarnessCluster, type HarnessCluster } from './cluster.js';
import { synthesizedApp, type Assembly } from './assembly.js';
import { FunctionPool, type InvokeOutcome, type InvocationRecord } from './containers.js';
import { ACCOUNT_ID, deploy, type Deployment, type Route } from './deployment.js';
import { CLOUDFRONT_IAM_AUTHORIZER, DOWNLOAD_METHODS, originRequestHeaders } from './cloudfront.js';

/** API Gateway HTTP API limits the front enforces. */
const API_MAX_REQUEST_BYTES = 10 * 1024 * 1024;
const API_INTEGRATION_TIMEOUT_MS = 30_000;
/** How long the Invoke API takes to accept an async invocation here (AWS: tens of ms). */
export const INVOKE_ACCEPT_DELAY_MS = 150;
/** Lambda's synchronous invocation payload limit (request and response). */
const LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;

export interface HarnessOptions {
  /** Containers per function at most (default 4; at least 3). */
  maxContainers?: number;
  /** Recycle a container after this many invocations (range; default [5, 10]: with 4 containers, a function invoked more than 40 times recycles at least one). */
  recycleAfter?: [number, number];
  /** Seed of the recycling draws. */
  seed?: number;
}

export interface Harness {
  /** The origin clients use (CloudFront's routing: the streaming download path to the Function URL, the rest to the API). */
  url: string;
  deployment: Deployment;
  assembly: Assembly;
  faults: FaultControl;
  pools: Record<string, FunctionPool>;
  invokeApi: LambdaInvokeEmulator;
  dataApi: DataApiEmulator;
  secrets: SecretsManagerEmulator;
  /** The run's catalog database on PostgreSQL (DATABASE_URL), or undefined on PGlite. */
  cluster?: HarnessCluster;
  /** The environment every container gets besides the template's: what Lambda sets, and the endpoint overrides. */
  lambdaEnv: Record<string, string>;
  /** Every invocation so far. */
  records(): InvocationRecord[];
  /** Invoke a function by logical id and wait for its outcome. */
  invoke(fn: string, event: unknown, o?: { timeoutMs?: number }): Promise<InvokeOutcome>;
  /**
   * Invoke a schedule's target now with the schedule's input, as EventBridge Scheduler would.
   * `timeoutMs` gives the invocation an earlier deadline than the function's timeout (a run that
   * budgets by the context's remaining time then ends sooner).
   */
  runSchedule(match: (s: Deployment['schedules'][number]) => boolean, o?: { timeoutMs?: number }): Promise<InvokeOutcome>;
  /** The logical id of the function a route, the Function URL or a schedule's input names. */
  fnFor(what: 'auth' | 'files' | 'controller' | 'stream' | 'prober' | 'replicator' | 'migrate'): string;
  stop(): Promise<void>;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function matchRoute(routes: Route[], method: string, path: string): { route: Route; params: Record<string, string> } | undefined {
  let best: { route: Route; params: Record<string, string>; score: number } | undefined;
  for (const r of routes) {
    if (r.method !== method && r.method !== 'ANY') continue;
    const a = r.path.split('/');
    const b = path.split('/');
    if (a.length !== b.length) continue;
    const params: Record<string, string> = {};
    let score = 0;
    let ok = true;
    for (let i = 0; i < a.length; i++) {
      const seg = a[i] as string;
      const m = /^\{(.+)\}$/.exec(seg);
      if (m) {
        if ((b[i] ?? '') === '') ok = false;
        params[m[1] as string] = b[i] as string;
      } else if (seg === b[i]) score++;
      else ok = false;
      if (!ok) break;
    }
    if (ok && (!best || score > best.score)) best = { route: r, params, score };
  }
  return best;
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
}

function sendGatewayError(res: ServerResponse, status: number, message: string): void {
  const body = JSON.stringify({ message });
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'apigw-requestid': randomUUID() });
  res.end(body);
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const s of stops.splice(0).reverse()) await s().catch(() => undefined);
  };
  try {
    const assembly = await synthesizedApp();
    const d = deploy(assembly);
    const root = await mkdtemp(join(tmpdir(), 'echofs-lambda-'));
    stops.push(() => rm(root, { recursive: true, force: true }));

    // ---- AWS services
    const regions = Object.keys(d.buckets);
    const emulators: Emulators = await startEmulators({ dataDir: join(root, 'aws'), regions, buckets: d.buckets });
    stops.push(() => emulators.stop());
    const proxies: Record<string, FaultProxy> = {};
    for (const r of regions) proxies[r] = await startFaultProxy({ targetHost: '127.0.0.1', targetPort: emulators.s3[r]?.port ?? 0 });
    stops.push(async () => Promise.all(Object.values(proxies).map((p) => p.close())));
    const s3 = await startS3RegionRouter({ upstreams: Object.fromEntries(regions.map((r) => [r, (proxies[r] as FaultProxy).endpoint])) });
    stops.push(() => s3.close());

    // The catalog cluster: on PostgreSQL, a database of the run's own with its master user
    // (cluster.ts: the secrets' user names get the run's suffix first); else PGlite, one user.
    let cluster: HarnessCluster | undefined;
    const databaseUrl = process.env.DATABASE_URL;
    if (databaseUrl) {
      cluster = await createHarnessCluster(databaseUrl, d.secrets, d.masterSecret);
      stops.push(() => (cluster as HarnessCluster).drop());
    }
    const secrets = await startSecretsManager(d.secrets);
    stops.push(() => secrets.close());

    const pglite = cluster ? undefined : pgliteBackend(join(root, 'catalog'));
    const dataApi = await startDataApi({
      clusters: d.clusterArns,
      // As the service: each request's secret read from Secrets Manager, its user's own pool.
      readSecret: await secretsManagerReader(secrets.endpoint, d.region),
      backendFor: (credentials) => (cluster ? postgresBackend(cluster.url, { credentials }) : (pglite as Promise<DataApiBackend>)),
    });
    stops.push(() => dataApi.close());

    // "CloudFormation": the controller table from its template properties.
    const ddb = new DynamoDBClient({ region: d.region, endpoint: emulators.dynamoEndpoint, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
    for (const t of d.tables) {
      const p = t.properties as Record<string, unknown>;
      await ddb.send(
        new CreateTableCommand({
          TableName: t.name,
          AttributeDefinitions: p.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
          KeySchema: p.KeySchema as CreateTableCommandInput['KeySchema'],
          BillingMode: 'PAY_PER_REQUEST',
        }),
      );
      const ttl = p.TimeToLiveSpecification as { AttributeName: string; Enabled: boolean } | undefined;
      if (ttl) await ddb.send(new UpdateTimeToLiveCommand({ TableName: t.name, TimeToLiveSpecification: ttl })).catch(() => undefined);
    }
    ddb.destroy();

    // ---- Lambda
    const pools: Record<string, FunctionPool> = {};
    const invokeApi = await startLambdaInvoke({
      resolve: (x) => d.functionByNameOrArn(x),
      // An accept that takes this long shows a caller that does not wait for it (the replicator
      // kick must be accepted before the response: the container is frozen right after).
      acceptDelayMs: INVOKE_ACCEPT_DELAY_MS,
      async invoke(fn, payload) {
        const out = await invoke(fn, JSON.parse(payload || 'null'));
        if (out.kind === 'result') return { payload: out.payload.toString('utf8') };
        if (out.kind === 'error') return { payload: out.payload.toString('utf8'), error: 'Unhandled' };
        return { payload: '' };
      },
    });
    stops.push(() => invokeApi.close());

    const lambdaEnv: Record<string, string> = {
      // What Lambda itself sets.
      AWS_REGION: d.region,
      AWS_DEFAULT_REGION: d.region,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_SESSION_TOKEN: 'lambda-harness-session',
      TZ: ':UTC',
      LANG: 'en_US.UTF-8',
      PATH: '/usr/local/bin:/usr/bin:/bin',
      // What differs from AWS: the SDK's standard endpoint overrides, one per service.
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamoEndpoint,
      AWS_ENDPOINT_URL_RDS_DATA: dataApi.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.endpoint,
      AWS_ENDPOINT_URL_LAMBDA: invokeApi.endpoint,
    };
    const random = mulberry32(o.seed ?? 1);
    for (const [id, spec] of Object.entries(d.functions)) {
      pools[id] = new FunctionPool(spec, lambdaEnv, join(root, 'containers'), {
        maxContainers: Math.max(3, o.maxContainers ?? 4),
        recycleAfter: o.recycleAfter ?? [5, 10],
        random,
      });
      stops.push(() => (pools[id] as FunctionPool).stop());
    }
    const invoke = async (fn: string, event: unknown, io: { timeoutMs?: number } = {}): Promise<InvokeOutcome> => {
      const pool = pools[fn];
      if (!pool) throw new Error(`no function ${fn}`);
      return (await pool.invoke(event, io)).outcome;
    };

    const fnFor: Harness['fnFor'] = (what) => {
      const byRoute = (prefix: string) => d.routes.find((r) => r.path.startsWith(prefix))?.fn;
      const bySchedule = (task: string) => d.schedules.find((s) => s.input.includes(`"${task}"`))?.fn;
      const id =
        what === 'auth'
          ? byRoute('/api/v1/auth/')
          : what === 'files'
            ? byRoute('/api/v1/files')
            : what === 'controller'
              ? byRoute('/v1/')
              : what === 'stream'
                ? d.functionUrl?.fn
                : what === 'prober'
                  ? bySchedule('probe')
                  : what === 'replicator'
                    ? bySchedule('drain')
                    : d.customResources[0]?.fn;
      if (!id) throw new Error(`the template has no function for ${what}`);
      return id;
    };

    // ---- deploy time: the migrations custom resource (CloudFormation -> Provider framework -> onEvent)
    for (const cr of d.customResources) {
      const event = {
        RequestType: 'Create',
        ServiceToken: String(cr.properties.ServiceToken ?? ''),
        ResponseURL: 'https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/harness',
        StackId: `arn:aws:cloudformation:${d.region}:${ACCOUNT_ID}:stack/${d.coreStack}/00000000-0000-4000-8000-000000000000`,
        RequestId: randomUUID(),
        LogicalResourceId: cr.logicalId,
        ResourceType: cr.type,
        ResourceProperties: cr.properties,
      };
      const out = await invoke(cr.fn, event);
      if (out.kind !== 'result') throw new Error(`custom resource ${cr.logicalId} failed: ${out.kind === 'error' ? out.payload.toString('utf8') : 'streamed'}`);
    }

    // ---- what clients see
    const apiGateway = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
      const m = matchRoute(d.routes, (req.method ?? 'GET').toUpperCase(), url.pathname);
      if (!m) return sendGatewayError(res, 404, 'Not Found');
      const body = await readBody(req);
      if (body.length > API_MAX_REQUEST_BYTES) return sendGatewayError(res, 413, 'Request Entity Too Large');
      const requestId = randomUUID();
      const route = { method: m.route.method, path: m.route.path, fn: 'files', auth: 'none' } as SharedRoute;
      const event = buildEvent({ req, url, route, pathParameters: m.params, body, requestId });
      event.requestContext.accountId = ACCOUNT_ID;
      if (Buffer.byteLength(JSON.stringify(event)) > LAMBDA_SYNC_PAYLOAD_BYTES) return sendGatewayError(res, 413, 'Request Entity Too Large');
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), API_INTEGRATION_TIMEOUT_MS).unref());
      const out = await Promise.race([invoke(m.route.fn, event), timer]);
      if (out === 'timeout') return sendGatewayError(res, 503, 'Service Unavailable');
      if (out.kind !== 'result' || out.payload.length > LAMBDA_SYNC_PAYLOAD_BYTES) return sendGatewayError(res, 500, 'Internal Server Error');
      const r = JSON.parse(out.payload.toString('utf8')) as { statusCode?: number; headers?: Record<string, string>; body?: string; isBase64Encoded?: boolean; cookies?: string[] };
      if (typeof r !== 'object' || r === null || typeof r.statusCode !== 'number') {
        const text = JSON.stringify(r);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return void res.end(text);
      }
      const payload = r.body === undefined ? Buffer.alloc(0) : Buffer.from(r.body, r.isBase64Encoded ? 'base64' : 'utf8');
      const headers: Record<string, string | string[]> = { ...(r.headers ?? {}), 'apigw-requestid': requestId, 'Content-Length': String(payload.length) };
      if (r.cookies?.length) headers['Set-Cookie'] = r.cookies;
      res.writeHead(r.statusCode, headers);
      res.end(req.method === 'HEAD' ? undefined : payload);
    };

    const functionUrl = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
      const spec = d.functionUrl;
      if (!spec) return sendGatewayError(res, 404, 'Not Found');
      const method = (req.method ?? 'GET').toUpperCase();
      // CloudFront's download behaviour (cloudfront.ts), then the Function URL's own auth check.
      if (!DOWNLOAD_METHODS.includes(method)) return sendGatewayError(res, 403, 'This distribution is not configured to allow the HTTP request method that was used for this request.');
      const body = await readBody(req);
      const now = new Date();
      const domain = `${spec.fn.toLowerCase()}.lambda-url.${d.region}.on.aws`;
      const headers = originRequestHeaders(method, url.pathname, req.headers, d.region, domain);
      const iam = spec.authType === 'AWS_IAM';
      if (iam && !headers.authorization?.startsWith('AWS4-HMAC-SHA256 ')) return sendGatewayError(res, 403, 'Forbidden');
      const event = {
        version: '2.0',
        routeKey: '$default',
        rawPath: url.pathname,
        rawQueryString: url.search.replace(/^\?/, ''),
        headers,
        ...(url.search ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
        requestContext: {
          accountId: iam ? CLOUDFRONT_IAM_AUTHORIZER.iam.accountId : 'anonymous',
          ...(iam ? { authorizer: CLOUDFRONT_IAM_AUTHORIZER } : {}),
          apiId: spec.fn.toLowerCase(),
          domainName: domain,
          domainPrefix: spec.fn.toLowerCase(),
          http: { method, path: url.pathname, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: headers['user-agent'] ?? '' },
          requestId: randomUUID(),
          routeKey: '$default',
          stage: '$default',
          time: now.toUTCString(),
          timeEpoch: now.getTime(),
        },
        isBase64Encoded: body.length > 0,
        ...(body.length > 0 ? { body: body.toString('base64') } : {}),
      };
      const out = await invoke(spec.fn, event);
      if (out.kind === 'error') return sendGatewayError(res, 502, 'Internal Server Error');
      if (out.kind === 'result') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return void res.end(out.payload);
      }
      if (out.contentType !== 'application/vnd.awslambda.http-integration-response') {
        res.writeHead(200, { 'Content-Type': out.contentType });
        out.body.pipe(res);
        return;
      }
      // The prelude (JSON) and 8 NUL bytes, then the body.
      let buf = Buffer.alloc(0);
      let started = false;
      out.body.on('data', (c: Buffer) => {
        if (started) {
          if (!res.write(c)) {
            out.body.pause();
            res.once('drain', () => out.body.resume());
          }
          return;
        }
        buf = Buffer.concat([buf, c]);
        const at = buf.indexOf(Buffer.alloc(8));
        if (at < 0) return;
        const prelude = JSON.parse(buf.subarray(0, at).toString('utf8')) as { statusCode?: number; headers?: Record<string, string>; cookies?: string[] };
        started = true;
        res.writeHead(prelude.statusCode ?? 200, { ...(prelude.headers ?? {}), ...(prelude.cookies?.length ? { 'Set-Cookie': prelude.cookies } : {}) });
        const rest = buf.subarray(at + 8);
        if (rest.length > 0) res.write(rest);
      });
      out.body.on('end', () => {
        if (!started) res.writeHead(200);
        res.end();
      });
      out.body.on('error', () => res.destroy());
    };

    const download = globToRegExp(DOWNLOAD_PATH_PATTERN);
    const edge: Listening = await listen((req, res) => {
      const url = new URL(req.url ?? '/', 'http://edge');
      const route = download.test(url.pathname) ? functionUrl : apiGateway;
      route(req, res, url).catch((err: unknown) => {
        if (!res.headersSent) sendGatewayError(res, 500, `harness: ${(err as Error).message}`);
        else res.destroy();
      });
    });
    stops.push(() => edge.close());

    const harness: Harness = {
      url: edge.endpoint,
      deployment: d,
      assembly,
      faults: faultControl(proxies),
      pools,
      invokeApi,
      dataApi,
      secrets,
      ...(cluster ? { cluster } : {}),
      lambdaEnv,
      records: () => Object.values(pools).flatMap((p) => p.records),
      invoke,
      async runSchedule(match, so = {}) {
        const s = d.schedules.find(match);
        if (!s) throw new Error('no such schedule');
        return invoke(s.fn, JSON.parse(s.input) as unknown, so);
      },
      fnFor,
      stop: stopAll,
    };
    return harness;
  } catch (err) {
    await stopAll();
    throw err;
  }
}
