import type { Frame } from '../../src/protocol/frames.ts';

/** One inbound message being worked on; an agent mode answers it through reply(). */
export interface Turn {
  id: string;
  seq: number;
  text: string;
  reply(text: string): void;
  /** Progress frames during the turn: assistant text, tool calls, usage. */
  emit(frame: Frame): void;
  log(line: string): void;
}

export interface AgentMode {
  run(turn: Turn): Promise<void>;
  /** Ends the current turn early (the SDK's interrupt); the mode stays usable. */
  interrupt?(): Promise<void>;
}

/** A turn failure reported to the host as an error frame with this message. */
export class TurnError extends Error {
  override name = 'TurnError';
}

export function errorCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  return err instanceof Error ? err.message : String(err);
}
