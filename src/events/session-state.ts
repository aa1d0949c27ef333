import type { NewEvent, Settle } from '../store/events.ts';
import type { EventRow } from '../store/schema.ts';

export type Listener = (events: EventRow[]) => void;

/** An event to store, or a message to settle once everything queued before it is stored. */
export type Pending =
  | { event: NewEvent; settle?: undefined; resolve: (row: EventRow | undefined) => void }
  | { event?: undefined; settle: Settle; resolve: (row: undefined) => void };

export interface SessionState {
  queue: Pending[];
  /** The flush under way, if any; it runs until the queue is empty. */
  flushing: Promise<void> | undefined;
  /** Resolves once the last item queued so far is stored (or given up on). */
  tail: Promise<unknown>;
  droppedLogs: number;
  /** performance.now() when the batch being stored was started. */
  batchStarted: number;
  /** Producers paused until the queue drains (see room()). */
  roomWaiters: Array<() => void>;
  catchingUp: boolean;
  /** Highest seq handed to live listeners; dispatch is gap-free and in order. */
  dispatched: number | undefined;
  chain: Promise<void>;
  listeners: Set<Listener>;
}
