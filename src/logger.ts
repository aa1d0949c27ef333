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
