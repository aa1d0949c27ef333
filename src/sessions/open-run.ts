import type { Config } from '../config.ts';
import type { EventLog } from '../events/event-log.ts';
import type { FileStore } from '../files/store.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { ContainerRuntime } from '../runtime/index.ts';
import type { Queryable } from '../store/db.ts';
import { addAgentUsage, updateRun } from '../store/sessions.ts';
import type { Launched } from './launcher.ts';
import { LiveRun } from './live-run.ts';
import { outboxCollector } from './reply-files.ts';
import type { RunKey } from './run-end.ts';

/** The live side of a launched container: its protocol, timers and delivery, wired to the store. */
export function openLiveRun(
  deps: {
    db: Queryable;
    events: EventLog;
    runtime: ContainerRuntime;
    log: Logger;
    metrics: Metrics;
    files?: FileStore | undefined;
    config: Config;
  },
  key: RunKey,
  launched: Launched,
  root: string,
): LiveRun {
  const { db, runtime, log, files } = deps;
  // The session folder's outbox is collected at the end of each turn, onto its reply.
  const collectFiles = files && outboxCollector(files, deps.config, { sessionId: key.sessionId, root }, log);
  return new LiveRun(
    {
      sessionId: key.sessionId,
      generation: key.generation,
      containerName: launched.containerName,
      nonce: launched.nonce,
    },
    launched.proc,
    launched.timeouts,
    {
      db,
      events: deps.events,
      stopContainer: async (graceMs) => {
        // The status is shown while stopping; the stop itself must go on if it cannot be saved.
        await updateRun(db, key, { status: 'stopping' }).catch((err) =>
          log.warn({ err, ...key }, 'marking a run stopping failed'),
        );
        await runtime.stop(launched.containerName, Math.ceil(graceMs / 1000));
      },
      onUsage: (usage) =>
        void addAgentUsage(db, key.sessionId, usage).catch((err) =>
          log.warn({ err, sessionId: key.sessionId }, 'saving agent usage failed'),
        ),
      log,
      metrics: deps.metrics,
      ...(collectFiles ? { collectFiles } : {}),
    },
  );
}
