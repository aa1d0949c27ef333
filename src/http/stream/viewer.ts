import type { WebSocket } from 'ws';
import type { EventKind, EventLog, EventRow } from '../../events/event-log.ts';
import { type ByteBudget, Outbox, type OutboxLimits } from './outbox.ts';
import {
  type BatchFrame,
  batchFrames,
  batchFramesFrom,
  eventFrame,
  overflowFrame,
  resumeHint,
  sharedBatchFrames,
} from './protocol.ts';
import { CLOSE } from './socket.ts';

export interface StreamLimits extends OutboxLimits {
  /** Live rows held while replaying from the database; past this they are dropped and re-read. */
  maxHeldRows: number;
  /** Rows per database page during replay. */
  pageSize: number;
  /** Queued bytes across all viewers of the process (see ByteBudget). */
  totalBytes: number;
}

const CLOSE_GRACE_MS = 2000;

export interface ViewerDeps {
  events: EventLog;
  /** The session's highest assigned seq; every event up to it is committed. */
  head(sessionId: string): Promise<number>;
  limits: StreamLimits;
  /** Queued bytes shared by every viewer of the process. */
  budget: ByteBudget;
  log: { warn(obj: object, msg: string): void };
}

export interface ViewerQuery {
  sessionId: string;
  /** Replay after this seq; undefined = live only. */
  after: number | undefined;
  kinds: EventKind[] | undefined;
  /** Many events per frame (the viewer chose `berth.v2`). */
  batch?: boolean;
}

/**
 * One WebSocket viewer of a session. It subscribes before reading the database, so nothing falls
 * between replay and live; `cursor` (the last seq considered, of any kind) makes both duplicate-free,
 * and any gap in the live feed sends it back to the database.
 */
export class Viewer {
  readonly #socket: WebSocket;
  readonly #query: ViewerQuery;
  readonly #deps: ViewerDeps;
  readonly #outbox: Outbox;
  readonly #wanted: ((row: EventRow) => boolean) | undefined;
  #cursor: number | undefined;
  /** Where streaming began: the requested cursor, or the head when live only. */
  #start: number | undefined;
  #held: EventRow[] = [];
  #heldLost = false;
  #catchingUp = false;
  #ended = false;
  #unsubscribe: (() => void) | undefined;

  constructor(socket: WebSocket, query: ViewerQuery, deps: ViewerDeps) {
    this.#socket = socket;
    this.#query = query;
    this.#deps = deps;
    this.#outbox = new Outbox(socket, deps.limits, deps.budget);
    this.#cursor = query.after;
    this.#start = query.after;
    const kinds = query.kinds && query.kinds.length > 0 ? new Set(query.kinds) : undefined;
    this.#wanted = kinds ? (row) => kinds.has(row.kind) : undefined;
  }

  start(): void {
    this.#socket.once('close', () => this.#end());
    this.#unsubscribe = this.#deps.events.subscribe(this.#query.sessionId, (rows) => this.#onLive(rows));
    void this.#catchUp();
  }

  /** The cursor a viewer resumes from: the last frame handed to its socket, else where it started. */
  get #resumeAfter(): number {
    return this.#outbox.lastSent ?? this.#start ?? 0;
  }

  #onLive(rows: EventRow[]): void {
    if (this.#ended) return;
    if (this.#catchingUp) {
      this.#hold(rows);
      return;
    }
    const rest = this.#apply(rows);
    if (rest) {
      this.#hold(rest);
      void this.#catchUp();
    }
  }

  #hold(rows: EventRow[]): void {
    if (this.#heldLost) return;
    if (this.#held.length + rows.length > this.#deps.limits.maxHeldRows) {
      // Too far behind to buffer: forget the live rows and read them from the database instead.
      this.#held = [];
      this.#heldLost = true;
      return;
    }
    for (const row of rows) this.#held.push(row);
  }

  /** Sends the rows that continue the cursor; returns the rows from a gap on, if there is one. */
  #apply(rows: EventRow[]): EventRow[] | undefined {
    if (this.#query.batch) return this.#applyBatch(rows);
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      if (this.#cursor === undefined || row.seq <= this.#cursor) continue;
      if (row.seq !== this.#cursor + 1) return rows.slice(i);
      if ((!this.#wanted || this.#wanted(row)) && !this.#outbox.push(eventFrame(row), row.seq)) {
        this.#overflow();
        return undefined;
      }
      this.#cursor = row.seq;
    }
    return undefined;
  }

  /** #apply for a batching viewer: the run that continues the cursor goes out in as few frames as fit. */
  #applyBatch(rows: EventRow[]): EventRow[] | undefined {
    if (this.#cursor === undefined) return undefined;
    let from = 0;
    while (from < rows.length && rows[from]!.seq <= this.#cursor) from++;
    let to = from;
    while (to < rows.length && rows[to]!.seq === this.#cursor + 1 + (to - from)) to++;
    if (to > from) {
      // Usually the whole live batch, unfiltered: the frames every such viewer shares.
      const run = from === 0 && to === rows.length ? rows : rows.slice(from, to);
      const frames = this.#wanted ? batchFrames(run.filter(this.#wanted)) : sharedBatchFrames(run);
      if (this.#pushAll(frames) < frames.length) {
        this.#overflow();
        return undefined;
      }
      this.#cursor = run.at(-1)!.seq;
    }
    return to < rows.length ? rows.slice(to) : undefined;
  }

  /** Queues frames in order until one does not fit; returns how many were queued. */
  #pushAll(frames: BatchFrame[]): number {
    for (let i = 0; i < frames.length; i++) {
      if (!this.#outbox.push(frames[i]!.frame, frames[i]!.last)) return i;
    }
    return frames.length;
  }

  /** Pages the database from the cursor up to the head, then applies the live rows held meanwhile. */
  async #catchUp(): Promise<void> {
    this.#catchingUp = true;
    const { sessionId } = this.#query;
    const { head } = this.#deps;
    try {
      for (;;) {
        const top = await head(sessionId);
        if (this.#ended) return;
        if (this.#cursor === undefined) {
          this.#cursor = top;
          this.#start = top;
        }
        for (;;) {
          const page = await this.#replayPage(top);
          if (this.#ended) return;
          if (page === 'done') break;
          // Waiting holds no rows: the rest of the page is read again once the viewer has room.
          if (page === 'blocked' && (!(await this.#outbox.room()) || this.#ended)) {
            this.#end();
            return;
          }
        }
        this.#cursor = Math.max(this.#cursor, top);
        const held = this.#held;
        const lost = this.#heldLost;
        this.#held = [];
        this.#heldLost = false;
        if (lost) continue;
        const rest = this.#apply(held);
        if (this.#ended) return;
        if (!rest) break;
        this.#held = rest;
      }
      this.#catchingUp = false;
    } catch (err) {
      if (this.#ended) return;
      this.#deps.log.warn({ err, sessionId }, 'event stream failed');
      this.#socket.close(CLOSE.INTERNAL_ERROR, resumeHint('stream failed', this.#resumeAfter));
      this.#end();
    }
  }

  /** Queues one page of stored events after the cursor: `more` to read on, `blocked` when the viewer is full. */
  async #replayPage(head: number): Promise<'more' | 'done' | 'blocked'> {
    const { sessionId, kinds } = this.#query;
    const { pageSize } = this.#deps.limits;
    const after = this.#cursor!;
    const rows = await this.#deps.events.replay({ sessionId, after, kinds, limit: pageSize, head });
    // Shared pages may start before the cursor.
    let start = 0;
    while (start < rows.length && rows[start]!.seq <= after) start++;
    if (start === rows.length) return 'done';
    if (this.#query.batch) {
      for (const { frame, last } of batchFramesFrom(rows, start)) {
        if (this.#ended) return 'done';
        if (!this.#outbox.fits(frame)) return 'blocked';
        this.#cursor = last;
        this.#outbox.push(frame, last);
      }
      return 'more';
    }
    for (const row of rows.slice(start)) {
      if (this.#ended) return 'done';
      const frame = eventFrame(row);
      if (!this.#outbox.fits(frame)) return 'blocked';
      this.#cursor = row.seq;
      this.#outbox.push(frame, row.seq);
    }
    return 'more';
  }

  #overflow(): void {
    const missed = this.#outbox.discard() + 1;
    const resumeAfter = this.#resumeAfter;
    this.#socket.send(overflowFrame(missed, resumeAfter));
    this.#socket.close(CLOSE.TOO_SLOW, resumeHint('viewer too slow', resumeAfter));
    // A peer that does not read never completes the close handshake; its buffers go after a grace.
    setTimeout(() => this.#socket.terminate(), CLOSE_GRACE_MS).unref();
    this.#end();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#held = [];
    this.#outbox.discard();
    this.#unsubscribe?.();
  }
}
