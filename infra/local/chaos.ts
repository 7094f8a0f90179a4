/**
 * `npm run chaos -- <region> <state> [--latency ms] [--jitter ms] [--loss p] [--url URL]
 *                   [--token T | --email E --password P]`
 * `npm run chaos -- status [--url URL] [...auth]`
 *
 * Sets a replica's fault (up | blackhole | refuse, plus latency, jitter and connection loss) on a
 * running local server through POST /api/v1/local/faults, or lists every region's fault. The
 * admin credentials may also come from ECHOFS_TOKEN, or ECHOFS_ADMIN_EMAIL and ECHOFS_ADMIN_PASSWORD.
 */
import { parseArgs } from 'node:util';

const USAGE = `usage: npm run chaos -- <region> <up|blackhole|refuse> [--latency ms] [--jitter ms] [--loss 0..1]
                        [--url http://localhost:8080] [--token T | --email E --password P]
       npm run chaos -- status [--url ...] [--token T | --email E --password P]`;

class UsageError extends Error {}

interface ErrorBody {
  error?: { message?: string };
}

function num(name: string, v: string | undefined, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > max) throw new UsageError(`--${name} must be a number from 0 to ${max} (got '${v}')`);
  return n;
}

async function call(url: string, init: RequestInit): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new Error(`cannot reach ${url}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}. Is the server running (npm start)?`);
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const message = (body as ErrorBody)?.error?.message ?? text;
    throw new Error(`${init.method ?? 'GET'} ${url} answered ${res.status}: ${message}`);
  }
  return body;
}

async function token(base: string, v: { token?: string; email?: string; password?: string }): Promise<string> {
  const t = v.token ?? process.env.ECHOFS_TOKEN;
  if (t) return t;
  const email = v.email ?? process.env.ECHOFS_ADMIN_EMAIL;
  const password = v.password ?? process.env.ECHOFS_ADMIN_PASSWORD;
  if (!email || !password) throw new UsageError('an admin login is needed: pass --token, or --email and --password (or set ECHOFS_TOKEN)');
  const body = (await call(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })) as { token: string };
  return body.token;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      latency: { type: 'string' },
      jitter: { type: 'string' },
      loss: { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const base = (values.url ?? process.env.ECHOFS_URL ?? `http://localhost:${process.env.PORT || 8080}`).replace(/\/+$/, '');
  const faultsUrl = `${base}/api/v1/local/faults`;
  const [region, state] = positionals;

  if (region === 'status' && state === undefined) {
    const auth = await token(base, values);
    const body = (await call(faultsUrl, { headers: { Authorization: `Bearer ${auth}` } })) as { faults: Record<string, unknown> };
    for (const [r, f] of Object.entries(body.faults)) process.stdout.write(`${r}: ${JSON.stringify(f)}\n`);
    return;
  }
  if (!region || !state || positionals.length > 2) throw new UsageError('expected <region> <state>');
  if (!['up', 'blackhole', 'refuse'].includes(state)) throw new UsageError(`state must be up, blackhole or refuse (got '${state}')`);
  const request = {
    region,
    state,
    latency_ms: num('latency', values.latency, 600_000),
    jitter_ms: num('jitter', values.jitter, 600_000),
    loss: num('loss', values.loss, 1),
  };
  const auth = await token(base, values);
  const body = (await call(faultsUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${auth}` },
    body: JSON.stringify(request),
  })) as { region: string; fault: unknown };
  process.stdout.write(`${body.region}: ${JSON.stringify(body.fault)}\n`);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`chaos: ${(err as Error).message}\n`);
  if (err instanceof UsageError) process.stderr.write(USAGE + '\n');
  process.exitCode = 1;
});
