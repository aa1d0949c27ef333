import { Buffer } from 'node:buffer';
import type { WebSocket } from 'ws';
import { type ByteBudget, Outbox, type OutboxLimits } from './outbox.ts';

/** Close codes of every berth WebSocket stream (documented in openapi.yaml). */
export const CLOSE = {
  /** The stream has ended (a build finished). */
  NORMAL: 1000,
  /** berth is shutting down; reconnect elsewhere or later. */
  GOING_AWAY: 1001,
  /** Reading failed; resume from the cursor in the reason. */
  INTERNAL_ERROR: 1011,
  /** The source lives on another instance; poll instead. */
  TRY_AGAIN_LATER: 1013,
  /** The viewer fell too far behind; resume from the cursor in the reason. */
  TOO_SLOW: 4008,
} as const;

export interface FrameSender {
  /** Queues one JSON frame; a viewer whose queue is full is closed with CLOSE.TOO_SLOW. */
  send(frame: object): void;
  /** Closes once everything queued has been handed to the socket. */
  end(code: number, reason: string): Promise<void>;
}

/** JSON frames to one viewer through the same bounded outbox the event stream uses. */
export function frameSender(socket: WebSocket, limits: OutboxLimits, budget: ByteBudget): FrameSender {
  const outbox = new Outbox(socket, limits, budget);
  let sent = 0;
  return {
    send(frame) {
      if (socket.readyState !== socket.OPEN) return;
      if (!outbox.push(Buffer.from(JSON.stringify(frame)), ++sent))
        socket.close(CLOSE.TOO_SLOW, 'viewer too slow');
    },
    async end(code, reason) {
      await outbox.drained();
      if (socket.readyState === socket.OPEN) socket.close(code, reason);
    },
  };
}
