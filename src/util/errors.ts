// One failure type for the whole program: a cause and a fix, printed as one line.
// Everything that reaches the user goes through here, so no stack trace or secret leaks
// out of an unexpected error unless --debug asks for it.

export class KeyroleError extends Error {
  readonly fix: string | undefined;
  readonly exitCode: number;
  readonly code: string;
  constructor(code: string, message: string, fix?: string, exitCode = 1) {
    super(message);
    this.name = 'KeyroleError';
    this.code = code;
    this.fix = fix;
    this.exitCode = exitCode;
  }
  /** The single stderr line. */
  line(): string {
    return this.fix ? `keyrole: ${this.message}; ${this.fix}` : `keyrole: ${this.message}`;
  }
}

export const usageError = (message: string, fix = 'see keyrole --help') =>
  new KeyroleError('Usage', message, fix, 2);

/** Collapse any text to one line so a multi-line cause never breaks the one-line contract. */
export const oneLine = (s: string) => s.replace(/\s*[\r\n]+\s*/g, ' ').trim();

// Failures of the service or the network, not of the request: worth riding out on a cached credential.
const TRANSIENT = new Set(['StsUnreachable', 'StsThrottled', 'StsError', 'StsMalformed', 'StsNotXml', 'SsoUnreachable', 'SsoThrottled', 'SsoMalformed', 'SsoError']);

/** Whether `err` says AWS could not be reached or failed (retry later), rather than refused. */
export function isTransient(err: unknown): boolean {
  return err instanceof KeyroleError && TRANSIENT.has(err.code);
}
