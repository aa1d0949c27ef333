import type { Logger } from '../logger.ts';
import type { ContainerRuntime } from '../runtime/index.ts';
import type { Store } from '../store/db.ts';
import { hasExpiredLease, type LeasedSession, liveSessions, sessionsToResume } from '../store/sessions.ts';
import type { SessionSupervisor } from './supervisor.ts';

export interface ReconcilerDeps {
  store: Store;
  runtime: ContainerRuntime;
  runner: SessionSupervisor;
  installId: string;
  instanceId: string;
  /** Instance ids of this host and data dir that belong to earlier processes: their runs are dead. */
  isPredecessor(instanceId: string): boolean;
  log: Logger;
}

/**
 * Brings containers and session rows back in line: removes containers of our installation that
 * no session owns any more, and marks runs whose owner is gone as lost (their messages are requeued).
 */
export class Reconciler {
  readonly #deps: ReconcilerDeps;
  #timer: NodeJS.Timeout | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #passes = 0;

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
  }

  /**
   * Full passes every `intervalMs`; in between, a cheap look every `leaseCheckMs` for runs whose
   * owner let its lease lapse, so a dead instance's sessions are taken over within about a lease.
   */
  start(intervalMs: number, leaseCheckMs = intervalMs): void {
    const pass = () =>
      void this.runOnce().catch((err: unknown) => this.#deps.log.error({ err }, 'reconcile pass failed'));
    this.#timer = setInterval(pass, intervalMs);
    this.#leaseTimer = setInterval(() => {
      if (this.#running) return;
      hasExpiredLease(this.#deps.store.db, this.#deps.instanceId).then(
        (expired) => expired && pass(),
        (err) => this.#deps.log.warn({ err }, 'lease check failed'),
      );
    }, leaseCheckMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    clearInterval(this.#leaseTimer);
    await this.#running;
  }

  runOnce(): Promise<void> {
    this.#running ??= this.#reconcile().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #reconcile(): Promise<void> {
    const { store, runtime, runner, installId, instanceId, log } = this.#deps;
    const ownerAlive = (s: LeasedSession) =>
      s.ownerInstance !== null &&
      !this.#deps.isPredecessor(s.ownerInstance) &&
      (s.ownerInstance === instanceId || s.leaseValid);

    const sessions = await liveSessions(store.db);
    const byId = new Map(sessions.map((s) => [s.id, s]));
    for (const s of sessions) {
      if (s.ownerInstance === instanceId && runner.isLocal(s.id, s.generation)) continue;
      if (s.ownerInstance !== instanceId && ownerAlive(s)) continue;
      log.warn({ sessionId: s.id, generation: s.generation, owner: s.ownerInstance }, 'run lost; requeueing');
      if (s.containerName)
        await runtime
          .remove(s.containerName)
          .catch((err: unknown) =>
            log.warn(
              { err, container: s.containerName },
              'removing a lost run failed; the orphan pass retries',
            ),
          );
      await runner.markLost(s.id, s.generation, s.ownerInstance ?? '');
    }

    const containers = await runtime.list({ 'berth.install': installId });
    for (const c of containers) {
      const sessionId = c.labels['berth.session'];
      const generation = Number(c.labels['berth.generation']);
      if (sessionId && runner.isLocal(sessionId, generation)) continue;
      const s = sessionId ? byId.get(sessionId) : undefined;
      const owned =
        s !== undefined && s.generation === generation && s.ownerInstance !== instanceId && ownerAlive(s);
      if (owned) continue;
      log.info({ container: c.name, sessionId, generation }, 'removing orphan container');
      await runtime
        .remove(c.name)
        .catch((err) => log.warn({ err, container: c.name }, 'removing orphan failed'));
    }

    // Messages accepted before a restart, or before a wake that failed, are still owed a delivery.
    const resume = await sessionsToResume(store.db, { afterRestart: this.#passes++ === 0 });
    for (const id of resume) {
      runner.wake(id).catch((err: Error) => log.warn({ err, sessionId: id }, 'resuming a session failed'));
    }
  }
}
