import type { Logger } from '../logger.ts';
import type { Store } from '../store/db.ts';
import { appendEvents, type EventKind, listEvents, type NewEvent } from '../store/events.ts';
import type { EventRow } from '../store/schema.ts';

export type { EventKind, EventRow, NewEvent };
export type Listener = (events: EventRow[]) => void;

interface Pending {
  event: NewEvent;
  resolve: (row: EventRow | undefined) => void;
}

interface SessionState {
  queue: Pending[];
  flushing: boolean;
  droppedLogs: number;
  /** Highest seq handed to live listeners; dispatch is gap-free and in order. */
  dispatched: number | undefined;
  chain: Promise<void>;
  listeners: Set<Listener>;
}

const CHANNEL = 'berth_events';
const MAX_BATCH = 500;

/**
 * The per-session timeline. Appends are batched per session (one transaction per flush, flushes
 * back to back, so bursts coalesce without a timer), persisted before they are shown live, and
 * fanned out to local listeners and, through NOTIFY, to other instances.
 */
export class EventLog {
  readonly #store: Store;
  readonly #instanceId: string;
  readonly #log: Logger;
  readonly #maxQueuedLogs: number;
  readonly #sessions = new Map<string, SessionState>();
  #unlisten: (() => Promise<void>) | undefined;
  #closed = false;

  constructor(store: Store, opts: { instanceId: string; log: Logger; maxQueuedLogs?: number }) {
    this.#store = store;
    this.#instanceId = opts.instanceId;
    this.#log = opts.log;
    this.#maxQueuedLogs = opts.maxQueuedLogs ?? 10_000;
  }

  async start(): Promise<void> {
    this.#unlisten = await this.#store.listen(CHANNEL, (payload) => this.#onNotify(payload));
  }

  /** Queues an event; resolves with the stored row (undefined if the session is gone or the log line was shed). */
  append(sessionId: string, event: NewEvent): Promise<EventRow | undefined> {
    const state = this.#state(sessionId);
    if (event.kind === 'log' && state.queue.length >= this.#maxQueuedLogs) {
      // The database is slower than the container's stderr: shed log lines, never replies, and say so.
      state.droppedLogs++;
      return Promise.resolve(undefined);
    }
    return new Promise((resolve) => {
      state.queue.push({ event, resolve });
      if (!state.flushing) {
        state.flushing = true;
        queueMicrotask(() => void this.#flush(sessionId, state));
      }
    });
  }

  read(query: { sessionId: string; after: number; kinds?: EventKind[]; limit: number }): Promise<EventRow[]> {
    return listEvents(this.#store.db, query);
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
  async wait(
    query: { sessionId: string; after: number; kinds?: EventKind[]; limit: number },
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<EventRow[]> {
    // Subscribed before the read: when the read finds nothing, every later event reaches `arrived`,
    // in order and without gaps, so the answer needs no second read.
    const arrived: EventRow[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = this.subscribe(query.sessionId, (rows) => {
      for (const r of rows) {
        if (r.seq > query.after && (!query.kinds?.length || query.kinds.includes(r.kind))) arrived.push(r);
      }
      if (arrived.length > 0) wake?.();
    });
    try {
      const stored = await this.read(query);
      if (stored.length > 0 || waitMs <= 0) return stored;
      if (arrived.length === 0 && !signal?.aborted && !this.#closed) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            resolve();
          };
          const timer = setTimeout(done, waitMs);
          wake = done;
          signal?.addEventListener('abort', done, { once: true });
        });
      }
      return arrived.slice(0, query.limit);
    } finally {
      unsubscribe();
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#sessions.values()].map((s) => s.chain));
    await this.#unlisten?.();
  }

  #state(sessionId: string): SessionState {
    let state = this.#sessions.get(sessionId);
    if (!state) {
      state = {
        queue: [],
        flushing: false,
        droppedLogs: 0,
        dispatched: undefined,
        chain: Promise.resolve(),
        listeners: new Set(),
      };
      this.#sessions.set(sessionId, state);
    }
    return state;
  }

  #forgetIfIdle(sessionId: string, state: SessionState): void {
    if (state.listeners.size === 0 && state.queue.length === 0 && !state.flushing)
      this.#sessions.delete(sessionId);
  }

  async #flush(sessionId: string, state: SessionState): Promise<void> {
    while (state.queue.length > 0) {
      if (state.droppedLogs > 0) {
        state.queue.push({
          event: { kind: 'lifecycle', data: { type: 'logs_dropped', count: state.droppedLogs } },
          resolve: () => {},
        });
        state.droppedLogs = 0;
      }
      const batch = state.queue.splice(0, MAX_BATCH);
      let rows: EventRow[] = [];
      try {
        rows = await appendEvents(
          this.#store.db,
          sessionId,
          batch.map((p) => p.event),
        );
      } catch (err) {
        this.#log.error({ err, sessionId, count: batch.length }, 'storing events failed');
      }
      batch.forEach((p, i) => {
        p.resolve(rows[i]);
      });
      if (rows.length > 0) {
        this.#dispatch(sessionId, state, rows);
        this.#store
          .notify(CHANNEL, `${sessionId}:${rows[0]!.seq}:${rows.at(-1)!.seq}:${this.#instanceId}`)
          .catch((err) => this.#log.warn({ err }, 'event notify failed'));
      }
    }
    state.flushing = false;
    this.#forgetIfIdle(sessionId, state);
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
          this.#log.error({ err, sessionId }, 'reading events to fill a gap failed');
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
