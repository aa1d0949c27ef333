/** Codes of runtime failures; each is an entry of berth's error catalogue (src/errors.ts). */
export type RuntimeErrorCode = 'RUNTIME_UNAVAILABLE' | 'INVALID_RUN_SPEC' | 'RUNTIME_COMMAND_FAILED';

/**
 * Base for runtime errors. The runtime layer imports nothing else of berth's, so it names its codes
 * here and the HTTP layer maps them through the catalogue like every other error.
 */
export class RuntimeError extends Error {
  override name = 'RuntimeError';
  constructor(
    readonly code: RuntimeErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** No usable container runtime; the message says what to install. */
export class RuntimeMissingError extends RuntimeError {
  override name = 'RuntimeMissingError';
  constructor(message: string) {
    super('RUNTIME_UNAVAILABLE', message);
  }
}

/** A RunSpec or build option that would be unsafe or ambiguous on a command line. */
export class InvalidRunSpecError extends RuntimeError {
  override name = 'InvalidRunSpecError';
  constructor(message: string) {
    super('INVALID_RUN_SPEC', message);
  }
}

export interface CommandResultInfo {
  binary: string;
  args: string[];
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Aborted through the caller's AbortSignal. */
  canceled?: boolean;
  stderrTail: string;
  stdoutTail: string;
}

/** A runtime CLI call failed; carries the whole result like execa's errors do. */
export class RuntimeCommandError extends RuntimeError {
  override name = 'RuntimeCommandError';
  readonly binary: string;
  readonly args: string[];
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly canceled: boolean;
  readonly stderrTail: string;
  readonly stdoutTail: string;
  constructor(info: CommandResultInfo) {
    const how = info.canceled
      ? 'was canceled'
      : info.timedOut
        ? 'timed out'
        : info.signal
          ? `was killed by ${info.signal}`
          : `exited with ${info.exitCode ?? 'no code'}`;
    const tail = info.stderrTail.trim() || info.stdoutTail.trim();
    super(
      'RUNTIME_COMMAND_FAILED',
      `${info.binary} ${info.args.join(' ')} ${how}${tail ? `: ${lastLine(tail)}` : ''}`,
      {
        exitCode: info.exitCode,
      },
    );
    this.binary = info.binary;
    this.args = info.args;
    this.exitCode = info.exitCode;
    this.signal = info.signal;
    this.timedOut = info.timedOut;
    this.canceled = info.canceled ?? false;
    this.stderrTail = info.stderrTail;
    this.stdoutTail = info.stdoutTail;
  }
}

function lastLine(text: string): string {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return (lines.at(-1) ?? '').slice(0, 500);
}

/** Keep the end of a command's output for error messages. */
export function tail(text: string, max = 4000): string {
  return text.length <= max ? text : text.slice(text.length - max);
}
