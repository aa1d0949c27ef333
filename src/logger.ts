import process from 'node:process';
import { PinoPretty } from 'pino-pretty';

/** One structured log call: fields first, then the message (pino's order). */
type LogMethod = (obj: object, msg: string) => void;

/** The logger every module takes; a pino or Fastify logger fits. Never given secrets. */
export interface Logger {
  debug: LogMethod;
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}

/** For callers that pass no logger. */
export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/**
 * Where berth's log lines go: human-readable lines (pino-pretty) on a terminal or when forced, else
 * undefined, which keeps pino's JSON lines on stdout. Redaction happens before either.
 */
export function logDestination(
  format: 'auto' | 'json' | 'pretty',
  stdout: { isTTY?: boolean } = process.stdout,
): NodeJS.WritableStream | undefined {
  const terminal = stdout.isTTY === true;
  if (format === 'json' || (format === 'auto' && !terminal)) return undefined;
  // Synchronous, like pino's own stdout writes, so lines keep their order with a crash's last words.
  return PinoPretty({
    colorize: terminal,
    sync: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname',
  });
}
