/** The password of login and register: an option, stdin, the environment, or a prompt that does not echo. */
import { createInterface } from 'node:readline';
import { usage } from './errors.js';
import type { Io } from './main.js';

async function firstLine(input: NodeJS.ReadableStream): Promise<string> {
  const rl = createInterface({ input, terminal: false });
  try {
    for await (const line of rl) return line;
    return '';
  } finally {
    rl.close();
  }
}

async function prompt(io: Io, question: string): Promise<string> {
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: true });
  // Echo nothing of what is typed.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
    if (s.includes(question)) io.stderr.write(question);
  };
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
    io.stderr.write('\n');
  }
}

export async function readPassword(io: Io, o: { password?: string; passwordStdin?: boolean }): Promise<string> {
  let password: string | undefined = o.password;
  if (password === undefined && o.passwordStdin) password = await firstLine(io.stdin);
  if (password === undefined && io.env.ECHOFS_PASSWORD) password = io.env.ECHOFS_PASSWORD;
  if (password === undefined && io.stdin.isTTY) password = await prompt(io, 'Password: ');
  if (password === undefined || password === '') throw usage('No password: give --password, --password-stdin or $ECHOFS_PASSWORD.');
  return password;
}
