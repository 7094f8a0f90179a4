/**
 * An emulator of Secrets Manager's GetSecretValue (JSON 1.1 protocol, `X-Amz-Target:
 * secretsmanager.GetSecretValue`), serving the secrets it is given by ARN or name.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsError, listen, readBody, sendError, sendJson, type Listening } from './http.js';

export interface EmulatedSecret {
  arn: string;
  name: string;
  value: string;
}

export interface SecretsManagerEmulator extends Listening {
  has(arnOrName: string): boolean;
  get(arnOrName: string): EmulatedSecret | undefined;
  /** GetSecretValue calls served so far. */
  reads: number;
}

const JSON_11 = 'application/x-amz-json-1.1';

export async function startSecretsManager(secrets: readonly EmulatedSecret[]): Promise<SecretsManagerEmulator> {
  const find = (id: string) => secrets.find((s) => s.arn === id || s.name === id);
  let reads = 0;
  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const target = String(req.headers['x-amz-target'] ?? '');
      const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as { SecretId?: string };
      if (target !== 'secretsmanager.GetSecretValue') throw new AwsError('InvalidAction', `The emulator serves GetSecretValue only (got ${target})`);
      const s = find(body.SecretId ?? '');
      if (!s) throw new AwsError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
      reads++;
      sendJson(
        res,
        200,
        { ARN: s.arn, Name: s.name, SecretString: s.value, VersionId: '00000000-0000-4000-8000-000000000001', VersionStages: ['AWSCURRENT'], CreatedDate: 0 },
        JSON_11,
      );
    } catch (err) {
      sendError(res, err, JSON_11);
    }
  };
  const listening = await listen((req, res) => void handler(req, res));
  return {
    ...listening,
    has: (id) => find(id) !== undefined,
    get: find,
    get reads() {
      return reads;
    },
  };
}
