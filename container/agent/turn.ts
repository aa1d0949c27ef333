/** One inbound message being worked on; an agent mode answers it through reply(). */
export interface Turn {
  id: string;
  seq: number;
  text: string;
  reply(text: string): void;
  log(line: string): void;
}

export type Agent = (turn: Turn) => Promise<void>;

/** A turn failure reported to the host as an error frame with this message. */
export class TurnError extends Error {
  override name = 'TurnError';
}

export function errorCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.message : String(err);
}
