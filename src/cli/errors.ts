/** Exit codes, documented in `berth --help` and the README. */
export const EXIT = { ok: 0, server: 1, usage: 2, notFound: 3, auth: 4, unreachable: 5 } as const;

/** A failure with the exit code it maps to; main prints the message and exits. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(EXIT.usage, message);
  }
}
