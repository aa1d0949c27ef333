import type { ContainerRuntime } from '../runtime/index.ts';
import type { Store } from '../store/db.ts';
import { hasExpiredLease, liveSessions, sessionsToResume } from '../store/sessions.ts';
import type { SessionRunner } from './supervisor.ts';

export interface ReconcilerDeps {
  store: Store;
  runtime: ContainerRuntime;
  runner: SessionRunner;
  installId: string;
  instanceId: string;
  /** Instance ids of this host and data dir that belong to earlier processes: their runs are dead. */
  isPredecessor(instanceId: string): boolean;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
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
      void this.runOnce().catch((err) => this.#deps.log.warn({ err }, 'reconcile pass failed'));
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
    const now = Date.now();
    const ownerAlive = (owner: string | null, lease: Date | null) =>
      owner !== null &&
      !this.#deps.isPredecessor(owner) &&
      (owner === instanceId || (lease !== null && lease.getTime() > now));

    const sessions = await liveSessions(store.db);
    const byId = new Map(sessions.map((s) => [s.id, s]));
    for (const s of sessions) {
      if (s.ownerInstance === instanceId && runner.isLocal(s.id, s.generation)) continue;
      if (s.ownerInstance !== instanceId && ownerAlive(s.ownerInstance, s.leaseExpiresAt)) continue;
      log.warn({ sessionId: s.id, generation: s.generation, owner: s.ownerInstance }, 'run lost; requeueing');
      if (s.containerName) await runtime.remove(s.containerName).catch(() => undefined);
      await runner.markLost(s.id, s.generation, s.ownerInstance ?? '');
    }

    const containers = await runtime.list({ 'berth.install': installId });
    for (const c of containers) {
      const sessionId = c.labels['berth.session'];
      const generation = Number(c.labels['berth.generation']);
      if (sessionId && runner.isLocal(sessionId, generation)) continue;
      const s = sessionId ? byId.get(sessionId) : undefined;
      const owned =
        s !== undefined &&
        s.generation === generation &&
        s.ownerInstance !== instanceId &&
        ownerAlive(s.ownerInstance, s.leaseExpiresAt);
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
