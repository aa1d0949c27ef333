import type { SessionRow } from '../store/schema.ts';

export interface Check {
  ok: boolean;
  detail?: string;
  warning?: string;
}

/** What the HTTP layer asks of the runner. */
export interface SessionControl {
  /** Idempotent: concurrent calls share one start and get the same generation. */
  wake(sessionId: string): Promise<{ status: SessionRow['status']; generation: number }>;
  /** Stops the run by container name; unacked messages go back to pending. */
  stop(sessionId: string): Promise<void>;
  /** A message was queued: deliver it to the live run, or wake one. Errors are reported as events. */
  messageQueued(sessionId: string): void;
  /** Ends the current turn of the session's agent; true when a running turn here was asked to stop. */
  interrupt(sessionId: string): Promise<boolean>;
  readiness(): Promise<{
    runtime: Check;
    image: Check;
    proxy: Check;
    network: Check;
    modelCredential: Check;
  }>;
}
