import type { EventLog, NewEvent } from '../events/event-log.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import {
  encodeClose,
  encodeInterrupt,
  encodeMessage,
  type Frame,
  FrameParser,
  type UsageFrame,
} from '../protocol/frames.ts';
import { LineSplitter, type RunningContainer } from '../runtime/index.ts';
import type { Queryable } from '../store/db.ts';
import { deliveredTo, takePending } from '../store/messages.ts';
import type { ExitReason } from '../store/sessions.ts';
import { frameEvent } from './frame-events.ts';
import type { CollectFiles } from './reply-files.ts';
import { drained } from './stdin.ts';

/** Messages taken from the queue per pass. */
const DELIVERY_BATCH = 100;

export interface RunTimeouts {
  idleMs: number;
  hardMs: number;
  graceMs: number;
}

export interface RunDeps {
  db: Queryable;
  events: EventLog;
  /** Stops the container by name (stop, then kill); the process exit follows. */
  stopContainer(graceMs: number): Promise<void>;
  /** A turn's usage frame, to be added to the session's totals. */
  onUsage(usage: UsageFrame): void;
  /** Moves the turn's outbox files into the file store; their list goes on the reply event. */
  collectFiles?: CollectFiles;
  log: Logger;
  metrics: Metrics;
}

/**
 * One container's lifetime for one session generation: feeds pending messages to stdin in seq
 * order, turns frames into state and events, and enforces the idle and hard timeouts.
 */
export class LiveRun {
  readonly sessionId: string;
  readonly generation: number;
  readonly containerName: string;
  stdoutBytes = 0;
  stderrBytes = 0;
  /** Set when berth itself ends the run, so the exit is not mistaken for a crash. */
  stopReason: ExitReason | undefined;
  readonly #deps: RunDeps;
  readonly #proc: RunningContainer;
  readonly #timeouts: RunTimeouts;
  readonly #inFlight = new Set<string>();
  /** Every message written to this run's stdin, so a retried pass never writes one twice. */
  readonly #written = new Set<string>();
  /** A pass failed: messages it took may be `delivered` here without having been written. */
  #recover = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #delivering: Promise<void> | undefined;
  #deliverAgain = false;
  /** Frames are handled in order; a reply waits for its files, and the ack after it waits too. */
  #frames: Promise<void> = Promise.resolve();
  #closing = false;
  #idleTimer: NodeJS.Timeout | undefined;
  #warnTimer: NodeJS.Timeout | undefined;
  #hardTimer: NodeJS.Timeout | undefined;

  constructor(
    init: { sessionId: string; generation: number; containerName: string; nonce: string },
    proc: RunningContainer,
    timeouts: RunTimeouts,
    deps: RunDeps,
  ) {
    this.sessionId = init.sessionId;
    this.generation = init.generation;
    this.containerName = init.containerName;
    this.#proc = proc;
    this.#timeouts = timeouts;
    this.#deps = deps;
    const frames = new FrameParser(init.nonce);
    const stderr = new LineSplitter();
    proc.stdout.on('data', (chunk: Buffer) => {
      this.stdoutBytes += chunk.length;
      this.#onStdout(frames.push(chunk));
    });
    proc.stdout.on('end', () => this.#onStdout(frames.end()));
    proc.stderr.on('data', (chunk: Buffer) => {
      this.stderrBytes += chunk.length;
      for (const line of stderr.push(chunk)) this.#event({ kind: 'log', stream: 'stderr', data: { line } });
      // Stderr faster than the database: stop reading (the container's writes wait) rather than shed lines.
      const room = deps.events.room(this.sessionId);
      if (room && !proc.stderr.isPaused()) {
        proc.stderr.pause();
        void room.then(() => proc.stderr.resume());
      }
    });
    proc.stderr.on('end', () => {
      for (const line of stderr.end()) this.#event({ kind: 'log', stream: 'stderr', data: { line } });
    });
    // EPIPE after the container died is expected; the exit path handles the rest.
    proc.stdin.on('error', () => {});
    this.#armIdle();
  }

  get exited() {
    return this.#proc.exited;
  }

  /** True once the run is being ended: it takes no more messages. */
  get closing(): boolean {
    return this.#closing;
  }

  /** Asks the agent to end its current turn (queued messages continue); false when no turn is running. */
  interrupt(): boolean {
    const { stdin } = this.#proc;
    if (this.#closing || this.#inFlight.size === 0 || stdin.destroyed || stdin.writableEnded) return false;
    stdin.write(encodeInterrupt());
    this.#event({ kind: 'lifecycle', data: { type: 'interrupt_requested' } });
    return true;
  }

  /** Writes every pending message to stdin; concurrent calls coalesce into one more pass. */
  deliver(): Promise<void> {
    if (this.#closing) return Promise.resolve();
    if (this.#delivering) {
      this.#deliverAgain = true;
      return this.#delivering;
    }
    this.#delivering = this.#deliverPasses().finally(() => {
      this.#delivering = undefined;
    });
    return this.#delivering;
  }

  /**
   * Resolves once no delivery is under way and every reply and ack seen is stored, so the run's end
   * requeues exactly the messages it did not finish.
   */
  async settled(): Promise<void> {
    await this.#delivering;
    await this.#frames;
    await this.#deps.events.flushed(this.sessionId);
  }

  async #deliverPasses(): Promise<void> {
    try {
      do {
        this.#deliverAgain = false;
        if (this.#closing) break;
        const key = { sessionId: this.sessionId, generation: this.generation };
        // A failed pass may have taken messages (committed) without knowing: they are ours to write.
        const taken = this.#recover
          ? (await deliveredTo(this.#deps.db, key)).filter((m) => !this.#written.has(m.id))
          : [];
        this.#recover = false;
        const batch = [...taken, ...(await takePending(this.#deps.db, { ...key, limit: DELIVERY_BATCH }))];
        if (batch.length === 0) break;
        const { stdin } = this.#proc;
        for (const m of batch) {
          // A closed stdin means the run is ending; its end requeues what was taken here.
          if (stdin.destroyed || stdin.writableEnded) break;
          this.#inFlight.add(m.id);
          this.#written.add(m.id);
          const full = !stdin.write(encodeMessage({ id: m.id, seq: m.seq, text: m.body }));
          this.#deps.metrics.messages('delivered', 1);
          this.#deps.metrics.delivered((Date.now() - m.createdAt.getTime()) / 1000);
          if (full) await drained(stdin);
        }
        this.#armTurn();
        if (batch.length === DELIVERY_BATCH) this.#deliverAgain = true;
      } while (this.#deliverAgain);
    } catch (err) {
      this.#deps.log.warn({ err, sessionId: this.sessionId }, 'delivering messages failed; retrying');
      this.#recover = true;
      // Nothing else may ask again (the last message before a database outage): try again shortly.
      clearTimeout(this.#retryTimer);
      this.#retryTimer = setTimeout(() => void this.deliver(), 1000);
    }
  }

  /**
   * Ends the run: the reason is recorded, stdin is closed (the agent exits on EOF), and the container
   * is stopped by name. A container the CLI had not created yet when the first stop ran is stopped
   * on a later pass, so a stop never waits on a container that keeps running.
   */
  async stop(reason: ExitReason): Promise<void> {
    this.stopReason ??= reason;
    this.#closing = true;
    this.#clearTimers();
    this.#proc.stdin.end();
    const exited = this.#proc.exited.then(() => true);
    for (let pass = 0; pass < 5; pass++) {
      await this.#deps.stopContainer(this.#timeouts.graceMs);
      const settle = new Promise<boolean>((resolve) =>
        setTimeout(resolve, this.#timeouts.graceMs + 1000, false),
      );
      if (await Promise.race([exited, settle])) return;
    }
  }

  dispose(): void {
    this.#closing = true;
    this.#clearTimers();
  }

  #onStdout(items: ReturnType<FrameParser['push']>): void {
    for (const item of items) {
      if (item.kind === 'frame') this.#onFrame(item.frame);
      else if (item.kind === 'line')
        this.#event({ kind: 'log', stream: 'stdout', data: { line: item.line } });
      else this.#event({ kind: 'log', stream: 'protocol', data: { line: item.message } });
    }
  }

  #onFrame(frame: Frame): void {
    this.#armIdle();
    if (this.#inFlight.size > 0) this.#armTurn();
    this.#frames = this.#frames
      .then(() => this.#handle(frame))
      .catch((err) => this.#deps.log.warn({ err, sessionId: this.sessionId }, 'handling a frame failed'));
  }

  async #handle(frame: Frame): Promise<void> {
    const event = frameEvent(frame);
    if (event && frame.type === 'reply' && this.#deps.collectFiles) {
      const { files, skipped } = await this.#deps.collectFiles(frame.inReplyTo);
      for (const s of skipped)
        this.#event({ kind: 'lifecycle', data: { type: 'file_skipped', messageId: frame.inReplyTo, ...s } });
      if (files.length > 0) event.data = { ...event.data, files };
    }
    if (event) this.#event(event);
    if (frame.type === 'usage') this.#deps.onUsage(frame);
    else if (frame.type === 'ack') this.#settle(frame.id, 'done');
    else if (frame.type === 'error' && frame.id) this.#settle(frame.id, 'failed', frame.message);
  }

  /** Settled through the event log: after, and atomically with, the replies that preceded the ack. */
  #settle(id: string, status: 'done' | 'failed', error?: string): void {
    this.#inFlight.delete(id);
    this.#deps.metrics.messages(status, 1);
    if (this.#inFlight.size === 0) this.#clearTurn();
    void this.#deps.events.settle(this.sessionId, { id, status, ...(error ? { error } : {}) });
  }

  #event(event: NewEvent): void {
    void this.#deps.events.append(this.sessionId, { generation: this.generation, ...event });
  }

  /** No frame for the idle timeout while nothing is in flight: ask the agent to close, then stop it. */
  #armIdle(): void {
    clearTimeout(this.#idleTimer);
    if (this.#closing) return;
    this.#idleTimer = setTimeout(() => {
      if (this.#inFlight.size > 0 || this.#delivering !== undefined) return this.#armIdle();
      this.#closing = true;
      this.stopReason ??= 'idle';
      this.#proc.stdin.write(encodeClose());
      this.#idleTimer = setTimeout(() => void this.stop('idle'), this.#timeouts.graceMs);
    }, this.#timeouts.idleMs);
  }

  /** During a turn, silence (no heartbeat or other frame) for the hard timeout stops the run, after a warning. */
  #armTurn(): void {
    this.#clearTurn();
    const { hardMs } = this.#timeouts;
    this.#warnTimer = setTimeout(
      () =>
        this.#event({
          kind: 'lifecycle',
          data: {
            type: 'deadline_warning',
            silentMs: Math.round(hardMs * 0.8),
            stopInMs: Math.round(hardMs * 0.2),
          },
        }),
      Math.round(hardMs * 0.8),
    );
    this.#hardTimer = setTimeout(() => void this.stop('timeout'), hardMs);
  }

  #clearTurn(): void {
    clearTimeout(this.#warnTimer);
    clearTimeout(this.#hardTimer);
  }

  #clearTimers(): void {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#idleTimer);
    this.#clearTurn();
  }
}
