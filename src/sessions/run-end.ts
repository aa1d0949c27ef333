import type { Config } from '../config.ts';
import type { EventLog, NewEvent } from '../events/event-log.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Queryable, Store } from '../store/db.ts';
import { requeueUnacked } from '../store/messages.ts';
import { retryWhileUnavailable } from '../store/retry.ts';
import { recordRunEnd, recordRunStart } from '../store/runs.ts';
import { type ExitReason, updateRun } from '../store/sessions.ts';

export interface RunKey {
  sessionId: string;
  generation: number;
  instanceId: string;
}

export interface RunEnding {
  reason: ExitReason;
  exitCode: number | null;
  stdoutBytes: number;
  stderrBytes: number;
  detail?: string | undefined;
  /** The engine stopped answering: no immediate re-wake; the reconciler resumes once it is back. */
  runtimeGone?: boolean;
}

/**
 * Closes the run's row, puts its unacked messages back (failing those out of attempts) and marks the
 * session idle, retried while the database is unavailable: a run that ended must not leave messages
 * `delivered`. `first` is false when another caller already recorded this end.
 */
export async function recordRunEnding(
  deps: { store: Store; config: Config; log: Logger; metrics: Metrics },
  key: RunKey,
  end: RunEnding,
  stopping: () => boolean,
) {
  const { db } = deps.store;
  const { detail: _detail, runtimeGone: _gone, ...ended } = end;
  let first = false;
  const requeue = await retryWhileUnavailable(
    'recording the end of a run',
    async () => {
      // Sticky across retries: a retry finds the run already closed by the attempt before it.
      first =
        (await recordRunEnd(db, { sessionId: key.sessionId, generation: key.generation, ...ended })) || first;
      const result = await requeueUnacked(db, {
        sessionId: key.sessionId,
        generation: key.generation,
        maxAttempts: deps.config.maxAttempts,
        reason: end.reason,
        refundAttempt: end.runtimeGone === true,
      });
      await updateRun(db, key, {
        status: 'idle',
        lastExitCode: end.exitCode,
        lastExitReason: end.reason,
        clearOwner: true,
      });
      return result;
    },
    { log: deps.log, stop: stopping, context: key, unavailable: () => deps.metrics.databaseError('runs') },
  );
  return { first, ...requeue };
}

/**
 * A container that never started is logged, counted, said as a `spawn_error` event, and still gets a
 * run row (start and end) and leaves the session idle.
 */
export async function recordSpawnFailure(
  deps: { db: Queryable; events: EventLog; log: Logger; metrics: Metrics },
  key: RunKey,
  failure: Error,
): Promise<void> {
  const { db, log } = deps;
  log.warn({ err: failure, ...key }, 'container did not start');
  deps.metrics.wake('failed', 0);
  deps.metrics.runtimeError('spawn');
  // The run rows are history; the session row below is what must be right, so their failures are only logged.
  await recordRunStart(db, { ...key, containerName: '-', image: '-' }).catch((err: Error) =>
    log.warn({ err, ...key }, 'recording a failed start failed'),
  );
  await recordRunEnd(db, {
    ...key,
    reason: 'spawn_error',
    exitCode: null,
    stdoutBytes: 0,
    stderrBytes: 0,
  }).catch((err: Error) => log.warn({ err, ...key }, 'recording a failed start failed'));
  await updateRun(db, key, {
    status: 'idle',
    lastExitReason: 'spawn_error',
    lastExitCode: null,
    clearOwner: true,
  });
  void deps.events.append(key.sessionId, {
    kind: 'lifecycle',
    generation: key.generation,
    data: { type: 'spawn_error', message: failure.message },
  });
}

/** The lifecycle events of a run's end: the exit, then each message that ran out of attempts. */
export function endEvents(
  key: RunKey,
  end: RunEnding,
  requeued: number,
  failed: Array<{ id: string; seq: number; error: string | null }>,
): NewEvent[] {
  const exit: NewEvent = {
    kind: 'lifecycle',
    generation: key.generation,
    data: {
      type: 'exit',
      reason: end.reason,
      exitCode: end.exitCode,
      requeued,
      ...(end.detail ? { detail: end.detail } : {}),
    },
  };
  return [
    exit,
    ...failed.map(
      (m): NewEvent => ({
        kind: 'lifecycle',
        generation: key.generation,
        data: { type: 'message_failed', messageId: m.id, seq: m.seq, reason: m.error },
      }),
    ),
  ];
}
