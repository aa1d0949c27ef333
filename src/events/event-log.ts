import type { Logger } from '../logger.ts';
import { type Metrics, noMetrics } from '../metrics.ts';
import type { Store } from '../store/db.ts';
import { type EventKind, listEvents, type NewEvent, type Settle, storeBatch } from '../store/events.ts';
import { retryWhileUnavailable } from '../store/retry.ts';
import type { EventRow } from '../store/schema.ts';
import type { Listener, Pending, SessionState } from './session-state.ts';
import { type PageQuery, SharedReads } from './shared-reads.ts';
import { waitForEvents } from './wait.ts';

export type { EventKind, EventRow, Listener, NewEvent, Settle };

const CHANNEL = 'berth_events';
const MAX_BATCH = 2000;
/** A batch stuck this long means the database is not keeping up at all: producers stop waiting, lines are shed. */
const STALL_MS = 3000;
/** How long close() keeps retrying writes while the database is unavailable. */
const CLOSE_GRACE_MS = 5_000;

/**
 * The per-session timeline. Appends are batched per session (one transaction per flush, flushes
 * back to back, so bursts coalesce without a timer), persisted before they are shown live, and
 * fanned out to local listeners and, through NOTIFY, to other instances. While the database is
 * unavailable a batch is retried in order; only log lines are shed (and counted) to bound memory.
 * A periodic catch-up read, and one after LISTEN reconnects, covers notifications missed meanwhile.
 */
export class EventLog {
  readonly #store: Store;
  readonly #instanceId: string;
  readonly #log: Logger;
  readonly #metrics: Metrics;
  readonly #maxQueuedLogs: number;
  readonly #sessions = new Map<string, SessionState>();
  readonly #catchUpMs: number;
  readonly #reads = new SharedReads((query) => listEvents(this.#store.db, query));
  #unlisten: (() => Promise<void>) | undefined;
  #catchUpTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #giveUpAt = Number.POSITIVE_INFINITY;

  constructor(
    store: Store,
    opts: { instanceId: string; log: Logger; maxQueuedLogs?: number; catchUpMs?: number; metrics?: Metrics },
  ) {
    this.#store = store;
    this.#instanceId = opts.instanceId;
    this.#log = opts.log;
    this.#metrics = opts.metrics ?? noMetrics;
    this.#maxQueuedLogs = opts.maxQueuedLogs ?? 10_000;
    this.#catchUpMs = opts.catchUpMs ?? 2_000;
  }

  async start(): Promise<void> {
    this.#unlisten = await this.#store.listen(
      CHANNEL,
      (p) => this.#onNotify(p),
      () => this.#catchUp(),
    );
    this.#catchUpTimer = setInterval(() => this.#catchUp(), this.#catchUpMs);
  }

  /** Queues an event; resolves with the stored row (undefined if the session is gone or the log line was shed). */
  append(sessionId: string, event: NewEvent): Promise<EventRow | undefined> {
    const state = this.#state(sessionId);
    if (event.kind === 'log' && state.queue.length >= this.#maxQueuedLogs) {
      // The database is slower than the container's stderr: shed log lines, never replies, and say so.
      state.droppedLogs++;
      this.#metrics.logLineShed();
      return Promise.resolve(undefined);
    }
    return this.#enqueue<EventRow | undefined>(sessionId, state, (resolve) => ({ event, resolve }));
  }

  /**
   * For a producer that can wait (a container's stderr): undefined while the session's queue is short,
   * else a promise that resolves once it has drained to a quarter of the shedding threshold. While a
   * batch has been stuck for STALL_MS it answers undefined (and releases waiters), so a sick database
   * sheds log lines as before instead of stalling the agent.
   */
  room(sessionId: string): Promise<void> | undefined {
    const state = this.#sessions.get(sessionId);
    if (!state || state.queue.length < this.#maxQueuedLogs / 2) return undefined;
    if (performance.now() - state.batchStarted > STALL_MS) return undefined;
    return new Promise<void>((resolve) => {
      state.roomWaiters.push(resolve);
      setTimeout(resolve, STALL_MS).unref();
    });
  }

  /** Settles a message in the same transaction as, or after, every event queued before this call. */
  settle(sessionId: string, settle: Settle): Promise<void> {
    const state = this.#state(sessionId);
    return this.#enqueue<undefined>(sessionId, state, (resolve) => ({ settle, resolve }));
  }

  /** Resolves once everything queued for the session so far is stored (or given up on). */
  async flushed(sessionId: string): Promise<void> {
    await this.#sessions.get(sessionId)?.tail;
  }

  #enqueue<T>(
    sessionId: string,
    state: SessionState,
    item: (resolve: (v: T) => void) => Pending,
  ): Promise<T> {
    const stored = new Promise<T>((resolve) => {
      state.queue.push(item(resolve as never));
    });
    state.tail = stored;
    state.flushing ??= this.#flush(sessionId, state);
    return stored;
  }

  /** A page of stored events; concurrent readers of the same page share one query and the same rows. */
  read(query: PageQuery): Promise<EventRow[]> {
    return this.#reads.read(query);
  }

  /** A replay page shared by every viewer replaying the same stretch (see SharedReads.replay). */
  replay(query: PageQuery & { head: number }): Promise<EventRow[]> {
    return this.#reads.replay(query);
  }

  /** Live events of a session, in seq order without gaps, from now on. */
  subscribe(sessionId: string, listener: Listener): () => void {
    const state = this.#state(sessionId);
    state.listeners.add(listener);
    return () => {
      state.listeners.delete(listener);
      this.#forgetIfIdle(sessionId, state);
    };
  }

  /** Events after `after`, waiting up to `waitMs` for the first one when there are none yet. */
  wait(query: PageQuery, waitMs: number, signal?: AbortSignal): Promise<EventRow[]> {
    return waitForEvents(this, query, { waitMs, signal, closed: () => this.#closed });
  }

  /** Stores what is queued (retrying for a few seconds while the database is unavailable), then stops. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#giveUpAt = Date.now() + CLOSE_GRACE_MS;
    clearInterval(this.#catchUpTimer);
    await Promise.all([...this.#sessions.values()].map((s) => s.flushing));
    await Promise.all([...this.#sessions.values()].map((s) => s.chain));
    await this.#unlisten?.();
  }

  #state(sessionId: string): SessionState {
    let state = this.#sessions.get(sessionId);
    if (!state) {
      state = {
        queue: [],
        flushing: undefined,
        tail: Promise.resolve(),
        droppedLogs: 0,
        batchStarted: 0,
        roomWaiters: [],
        catchingUp: false,
        dispatched: undefined,
        chain: Promise.resolve(),
        listeners: new Set(),
      };
      this.#sessions.set(sessionId, state);
    }
    return state;
  }

  #forgetIfIdle(sessionId: string, state: SessionState): void {
    if (state.listeners.size === 0 && state.queue.length === 0 && state.flushing === undefined)
      this.#sessions.delete(sessionId);
  }

  async #flush(sessionId: string, state: SessionState): Promise<void> {
    // Started on a later tick, so appends made in the same tick share one transaction.
    await Promise.resolve();
    while (state.queue.length > 0) {
      if (state.droppedLogs > 0) {
        state.queue.push({
          event: { kind: 'lifecycle', data: { type: 'logs_dropped', count: state.droppedLogs } },
          resolve: () => {},
        });
        state.droppedLogs = 0;
      }
      // The batch leaves the queue only once stored: the queue's length is what sheds log lines.
      const batch = state.queue.slice(0, MAX_BATCH);
      const events = batch.flatMap((p) => (p.event ? [p.event] : []));
      const settles = batch.flatMap((p) => (p.settle ? [p.settle] : []));
      let rows: EventRow[] = [];
      state.batchStarted = performance.now();
      try {
        rows = await retryWhileUnavailable(
          'storing events',
          () => storeBatch(this.#store.db, sessionId, events, settles),
          {
            log: this.#log,
            stop: () => this.#closed && Date.now() > this.#giveUpAt,
            context: { sessionId, count: batch.length },
            unavailable: () => this.#metrics.databaseError('events'),
          },
        );
      } catch (err) {
        this.#log.error({ err, sessionId, count: batch.length }, 'storing events failed; batch lost');
      }
      state.queue.splice(0, batch.length);
      if (state.roomWaiters.length > 0 && state.queue.length <= this.#maxQueuedLogs / 4) {
        for (const wake of state.roomWaiters.splice(0)) wake();
      }
      let i = 0;
      for (const p of batch) {
        if (p.event) p.resolve(rows[i++]);
        else p.resolve(undefined);
      }
      for (const row of rows) this.#metrics.eventStored(row.kind);
      if (rows.length > 0) {
        this.#dispatch(sessionId, state, rows);
        this.#store
          .notify(CHANNEL, `${sessionId}:${rows[0]!.seq}:${rows.at(-1)!.seq}:${this.#instanceId}`)
          .catch((err) => this.#log.warn({ err }, 'event notify failed'));
      }
    }
    // Cleared in the same tick as the empty-queue check, so no append can find a flush that is ending.
    state.flushing = undefined;
    this.#forgetIfIdle(sessionId, state);
  }

  /** Reads what live listeners may have missed (a NOTIFY lost while LISTEN was reconnecting). */
  #catchUp(): void {
    for (const [sessionId, state] of this.#sessions) {
      if (state.listeners.size === 0 || state.dispatched === undefined || state.catchingUp) continue;
      state.catchingUp = true;
      this.#dispatch(sessionId, state, []);
      void state.chain.finally(() => {
        state.catchingUp = false;
      });
    }
  }

  #onNotify(payload: string): void {
    const [sessionId, first, last, instanceId] = payload.split(':');
    if (!sessionId || instanceId === this.#instanceId) return;
    const state = this.#sessions.get(sessionId);
    if (!state || state.listeners.size === 0) return;
    if (state.dispatched !== undefined && Number(last) <= state.dispatched) return;
    // A listener that has seen nothing yet starts at this batch.
    state.dispatched ??= Number(first) - 1;
    this.#dispatch(sessionId, state, []);
  }

  /** Hands rows to listeners in order; a gap (another instance's events) is filled from the database first. */
  #dispatch(sessionId: string, state: SessionState, rows: EventRow[]): void {
    state.chain = state.chain.then(async () => {
      if (state.listeners.size === 0) {
        state.dispatched = rows.at(-1)?.seq ?? state.dispatched;
        return;
      }
      let fresh = state.dispatched === undefined ? rows : rows.filter((r) => r.seq > state.dispatched!);
      const expected = (state.dispatched ?? 0) + 1;
      if (state.dispatched !== undefined && (fresh.length === 0 || fresh[0]!.seq !== expected)) {
        try {
          const upTo = fresh[0]?.seq;
          const gap = await listEvents(this.#store.db, { sessionId, after: state.dispatched, limit: 10_000 });
          fresh = [...gap.filter((r) => upTo === undefined || r.seq < upTo), ...fresh];
        } catch (err) {
          // The next catch-up pass reads the gap again.
          this.#log.warn({ err, sessionId }, 'reading events to fill a gap failed');
        }
      }
      if (fresh.length === 0) return;
      state.dispatched = fresh.at(-1)!.seq;
      for (const listener of state.listeners) {
        try {
          listener(fresh);
        } catch (err) {
          this.#log.error({ err, sessionId }, 'event listener threw');
        }
      }
    });
  }
}
