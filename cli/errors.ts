/**
 * What went wrong, as the exit code a script can act on. Every failure of the client is a
 * CliError of one of these kinds; the process exits with its code.
 */

export const EXIT = {
  ok: 0,
  /** The request was refused (400, 409, 412, 413…), a server error (500), or the data failed verification. */
  failure: 1,
  /** Bad command line: unknown command or option, missing argument, a local path that is not there. */
  usage: 2,
  /** Not signed in, the token was refused (401), wrong email or password, or not allowed (403). */
  auth: 3,
  /** No such file, version, upload session or key (404, 410). */
  notFound: 4,
  /** The server cannot be reached or cannot serve now (network error, timeout, 429, 502, 503, 504). */
  unavailable: 5,
} as const;

export type ErrorKind = keyof typeof EXIT;

export class CliError extends Error {
  constructor(
    readonly kind: Exclude<ErrorKind, 'ok'>,
    message: string,
    /** The server's error code, the HTTP status and request id, when the server answered. */
    readonly details: { code?: string; status?: number; requestId?: string } = {},
    /** What to do about it, shown after the message when the command ends with this error. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }

  get exitCode(): number {
    return EXIT[this.kind];
  }
}

export const usage = (message: string) => new CliError('usage', message);

/** The kind of error an HTTP status means (0 = no answer at all). */
export function kindOfStatus(status: number): Exclude<ErrorKind, 'ok'> {
  if (status === 0 || status === 429 || status === 502 || status === 503 || status === 504 || status === 408) return 'unavailable';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404 || status === 410) return 'notFound';
  return 'failure';
}
