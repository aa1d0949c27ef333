import { AppError } from '../errors.ts';
import type { NewEvent } from '../events/event-log.ts';
import { sessionDir } from '../mounts/folders.ts';
import { oomKillCount } from '../runtime/index.ts';
import { getGroup } from '../store/groups.ts';
import { pendingMessages } from '../store/messages.ts';
import { recordRunStart } from '../store/runs.ts';
import { claimWake, updateRun } from '../store/sessions.ts';
import type { SessionControl } from './control.ts';
import { classifyExit } from './exit-reason.ts';
import type { Launched } from './launcher.ts';
import type { LiveRun } from './live-run.ts';
import { refuseWithoutCredential } from './model-credential.ts';
import { openLiveRun } from './open-run.ts';
import { ProxyUsageSaver } from './proxy-usage.ts';
import { type QuotaBreach, QuotaWatch } from './quota.ts';
import { type RunnerReadiness, runnerReadiness } from './readiness.ts';
import { endEvents, type RunEnding, type RunKey, recordRunEnding, recordSpawnFailure } from './run-end.ts';
import { Slots } from './slots.ts';
import type { RunnerDeps } from './supervisor-deps.ts';
import { wakeEvents } from './wake-events.ts';

type WakeResult = { status: 'idle' | 'starting' | 'running' | 'stopping' | 'failed'; generation: number };

const CONTROL_CHANNEL = 'berth_control';

/**
 * Owns this instance's session containers. Exactly one container per session: in-process, wakes
 * share one promise; across instances, the session row lock and lease decide (see claimWake).
 */
export class SessionSupervisor implements SessionControl {
  readonly #deps: RunnerDeps;
  readonly #runs = new Map<string, LiveRun>();
  readonly #waking = new Map<string, Promise<WakeResult>>();
  readonly #slots: Slots;
  readonly #quota: QuotaWatch;
  /** Each live run's end-of-run bookkeeping, registered as soon as the run exists. */
  readonly #exits = new Map<LiveRun, Promise<void>>();
  readonly #proxyUsage: ProxyUsageSaver;
  #leaseTimer: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | undefined;
  #closing = false;

  constructor(deps: RunnerDeps) {
    this.#deps = deps;
    this.#slots = new Slots(deps.config.maxContainers);
    this.#proxyUsage = new ProxyUsageSaver(deps.store.db, (id) => deps.launcher.proxyUsage(id), deps);
    const mb = 1024 * 1024;
    this.#quota = new QuotaWatch({
      dataDir: deps.config.dataDir,
      quotaBytes: deps.config.workspaceQuotaMb * mb,
      reserveBytes: deps.config.diskReserveMb * mb,
      intervalMs: deps.config.quotaCheckMs,
      stop: (sessionId, breach) => this.#stopForSpace(sessionId, breach),
      log: deps.log,
    });
  }

  async start(): Promise<void> {
    this.#unlisten = await this.#deps.store.listen(CONTROL_CHANNEL, (payload) => this.#onControl(payload));
    const every = Math.max(250, Math.floor(this.#deps.config.leaseMs / 3));
    this.#leaseTimer = setInterval(() => void this.#renewLeases(), every);
    this.#quota.start();
  }

  wake(sessionId: string): Promise<WakeResult> {
    const live = this.#runs.get(sessionId);
    if (live) return Promise.resolve({ status: 'running', generation: live.generation });
    let pending = this.#waking.get(sessionId);
    if (!pending) {
      pending = this.#wake(sessionId).finally(() => this.#waking.delete(sessionId));
      this.#waking.set(sessionId, pending);
    }
    return pending;
  }

  messageQueued(sessionId: string): void {
    const live = this.#runs.get(sessionId);
    if (live?.closing) {
      // A run on its way out takes no more messages: this one goes to the next run.
      void this.#exits.get(live)?.then(() => this.messageQueued(sessionId));
      return;
    }
    if (live) {
      void live.deliver();
      return;
    }
    this.wake(sessionId).then(
      () => {
        // Another instance owns the run: tell it there is mail.
        if (!this.#runs.has(sessionId)) void this.#deps.store.notify(CONTROL_CHANNEL, `deliver:${sessionId}`);
      },
      (err: Error) => {
        // Built at first start: the message waits for the image instead of for another wake.
        const build = this.#deps.imageBuilt;
        if ((err as { code?: string }).code === 'IMAGE_BUILDING' && build)
          void build().then(() => this.messageQueued(sessionId));
        else this.#reportWakeFailure(sessionId, err);
      },
    );
  }

  async stop(sessionId: string): Promise<void> {
    const waking = this.#waking.get(sessionId);
    // A failed wake has been reported by its caller; stop only waits for it to be over.
    if (waking) await waking.catch(() => undefined);
    const live = this.#runs.get(sessionId);
    if (live) {
      await live.stop('aborted');
      await this.#exits.get(live);
      return;
    }
    await this.#deps.store.notify(CONTROL_CHANNEL, `stop:${sessionId}`);
  }

  /** Interrupts the current turn of the session's run, here or (by notification) on its owner. */
  async interrupt(sessionId: string): Promise<boolean> {
    const live = this.#runs.get(sessionId);
    if (live) return live.interrupt();
    await this.#deps.store.notify(CONTROL_CHANNEL, `interrupt:${sessionId}`);
    return false;
  }

  readiness(): Promise<RunnerReadiness> {
    const { runtime, runtimeProblem, launcher, config, modelCredential } = this.#deps;
    const credential = modelCredential?.() ?? { ok: true };
    return runnerReadiness(runtime, runtimeProblem, launcher, config.image, credential);
  }

  /** Containers this instance runs now. */
  get running(): number {
    return this.#runs.size;
  }

  /** Stops every local run (their messages are requeued) and stops renewing leases. */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#leaseTimer);
    this.#quota.stop();
    await this.#unlisten?.();
    await Promise.allSettled([...this.#waking.values()]);
    await Promise.allSettled([...this.#runs.values()].map((run) => run.stop('aborted')));
    await Promise.allSettled([...this.#exits.values()]);
  }

  /** Marks a run whose container vanished as lost; used by the reconciler for dead owners. */
  async markLost(sessionId: string, generation: number, ownerInstance: string): Promise<void> {
    await this.#finish(
      { sessionId, generation, instanceId: ownerInstance },
      { reason: 'lost', exitCode: null, stdoutBytes: 0, stderrBytes: 0 },
    );
  }

  isLocal(sessionId: string, generation: number): boolean {
    return this.#runs.get(sessionId)?.generation === generation || this.#waking.has(sessionId);
  }

  async #wake(sessionId: string): Promise<WakeResult> {
    if (this.#closing) throw new AppError('SHUTTING_DOWN', 'berth is shutting down');
    const { runtime, config, store, instanceId, launcher, events, metrics } = this.#deps;
    if (!runtime)
      throw new AppError('RUNTIME_UNAVAILABLE', this.#deps.runtimeProblem ?? 'no container runtime');
    const credential = this.#deps.modelCredential?.();
    if (credential && !credential.ok)
      await refuseWithoutCredential({ db: store.db, events, metrics }, sessionId, credential.detail ?? '');
    const began = performance.now();
    await this.#quota.assertRoom();
    const release = await this.#slots.acquire();
    try {
      const claim = await claimWake(store.db, {
        sessionId,
        instanceId,
        leaseMs: config.leaseMs,
        containerPrefix: 'berth',
      });
      const session = claim.session;
      if (!claim.claimed) {
        release();
        return { status: session.status, generation: session.generation };
      }
      const key = { sessionId, generation: session.generation, instanceId };
      let launched: Launched;
      try {
        const group = await getGroup(store.db, session.groupId);
        launched = await launcher.launch(runtime, session, group);
      } catch (err) {
        await recordSpawnFailure({ db: store.db, events, log: this.#deps.log, metrics }, key, err as Error);
        throw err;
      }
      const oomKillsAtStart = oomKillCount();
      const root = sessionDir(config.dataDir, session.groupId, sessionId);
      const run = openLiveRun({ ...this.#deps, db: store.db, runtime }, key, launched, root);
      this.#runs.set(sessionId, run);
      this.#quota.track(sessionId, root);
      const exit = this.#watchExit(run, launched, release, oomKillsAtStart).finally(() =>
        this.#exits.delete(run),
      );
      this.#exits.set(run, exit);
      await recordRunStart(store.db, {
        ...key,
        containerName: launched.containerName,
        image: launched.image,
      });
      await updateRun(store.db, key, { status: 'running', leaseMs: config.leaseMs });
      metrics.wake('started', (performance.now() - began) / 1000);
      for (const event of wakeEvents(launched, session.generation)) this.#event(sessionId, event);
      void run.deliver();
      return { status: 'running', generation: session.generation };
    } catch (err) {
      release();
      throw err;
    }
  }

  async #watchExit(run: LiveRun, launched: Launched, release: () => void, oomKills: number | undefined) {
    const { runtime, launcher, metrics } = this.#deps;
    const cli = await run.exited;
    run.dispose();
    await run.settled();
    const verdict = await classifyExit(runtime!, run, cli.exitCode, oomKills);
    const { log } = this.#deps;
    const gone = 'removing a container failed; the reconciler retries';
    await runtime!.remove(run.containerName).catch((err: Error) => {
      metrics.runtimeError('remove');
      log.warn({ err, name: run.containerName }, gone);
    });
    launcher.release(launched);
    await launched.unstage();
    this.#runs.delete(run.sessionId);
    this.#quota.untrack(run.sessionId);
    release();
    await this.#proxyUsage.save(run.sessionId);
    await this.#finish(
      { sessionId: run.sessionId, generation: run.generation, instanceId: this.#deps.instanceId },
      { ...verdict, stdoutBytes: run.stdoutBytes, stderrBytes: run.stderrBytes },
    );
  }

  /** Records the end of a run once and requeues what it did not finish; an unexpected end wakes the session again. */
  async #finish(key: RunKey, end: RunEnding): Promise<void> {
    const { runtimeGone } = end;
    try {
      const { first, requeued, failed } = await recordRunEnding(this.#deps, key, end, () => this.#closing);
      if (!first) return;
      this.#deps.metrics.messages('failed', failed.length);
      for (const event of endEvents(key, end, requeued, failed)) this.#event(key.sessionId, event);
      // A run stopped by a user or for space waits for the next message instead of waking at once.
      const retry = end.reason !== 'aborted' && end.reason !== 'quota' && !runtimeGone && !this.#closing;
      if (retry && (await pendingMessages(this.#deps.store.db, key.sessionId, 1)).length > 0) {
        this.wake(key.sessionId).catch((err: Error) => this.#reportWakeFailure(key.sessionId, err));
      }
    } catch (err) {
      this.#deps.log.error({ err, ...key }, 'recording the end of a run failed');
    }
  }

  /** A run past its workspace quota, or on a nearly full disk, ends with reason `quota` after saying why. */
  #stopForSpace(sessionId: string, breach: QuotaBreach): void {
    const live = this.#runs.get(sessionId);
    if (!live || live.closing) return;
    this.#deps.log.warn({ sessionId, ...breach }, 'stopping a run for disk space');
    this.#event(sessionId, { kind: 'lifecycle', generation: live.generation, data: { ...breach } });
    void live.stop('quota');
  }

  #reportWakeFailure(sessionId: string, err: Error): void {
    if ((err as { code?: string }).code === 'SESSION_NOT_FOUND') return;
    this.#deps.log.warn({ err, sessionId }, 'wake failed');
  }

  async #renewLeases(): Promise<void> {
    const { store, config, instanceId } = this.#deps;
    for (const run of this.#runs.values()) {
      await updateRun(
        store.db,
        { sessionId: run.sessionId, generation: run.generation, instanceId },
        { leaseMs: config.leaseMs, lastActivityAt: new Date() },
      ).catch((err) => this.#deps.log.warn({ err }, 'lease renewal failed'));
      await this.#proxyUsage.save(run.sessionId);
    }
  }

  #onControl(payload: string): void {
    const [command, sessionId] = payload.split(':');
    if (!sessionId) return;
    const live = this.#runs.get(sessionId);
    if (!live) return;
    if (command === 'deliver') void live.deliver();
    if (command === 'stop') void live.stop('aborted');
    if (command === 'interrupt') live.interrupt();
  }

  #event(sessionId: string, event: NewEvent): void {
    void this.#deps.events.append(sessionId, event);
  }
}
