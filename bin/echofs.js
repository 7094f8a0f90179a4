#!/usr/bin/env node
// The `echofs` command: runs the TypeScript client (cli/) through tsx, so no build step is needed.
import { register } from 'tsx/esm/api';

register();
// `echofs ls | head` closes the pipe early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
const { run } = await import('../cli/main.ts');
const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  stderrIsTTY: process.stderr.isTTY === true,
  cwd: process.cwd(),
});
// Let stdout drain (a pipe may be slow), then exit with the code: no timer or socket keeps us alive.
process.exitCode = code;
process.stdout.write('', () => process.exit(code));
