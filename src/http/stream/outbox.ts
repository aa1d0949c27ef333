import type { Buffer } from 'node:buffer';
import { WebSocket } from 'ws';

export interface OutboxLimits {
  /** Unsent bytes the socket may hold before frames wait in the queue instead. */
  socketHighWater: number;
  /** Frames the queue may hold. */
  maxFrames: number;
  /** Bytes the queue may hold (a single frame is always accepted into an empty queue). */
  maxBytes: number;
}

/**
 * Bytes queued across every viewer of the process. A viewer may always queue one frame; beyond that,
 * replay waits and live frames overflow once the shared total is spent, so memory stays bounded
 * however many viewers connect.
 */
export class ByteBudget {
  #used = 0;
  readonly #max: number;
  #waiters: Array<() => void> = [];

  constructor(max: number) {
    this.#max = max;
  }

  get used(): number {
    return this.#used;
  }

  fits(bytes: number): boolean {
    return this.#used + bytes <= this.#max;
  }

  hasRoom(): boolean {
    return this.#used <= this.#max / 2;
  }

  add(bytes: number): void {
    this.#used += bytes;
  }

  release(bytes: number): void {
    this.#used -= bytes;
    if (this.#waiters.length > 0 && this.hasRoom()) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    }
  }

  /** Resolves once at most half the budget is in use. */
  wait(wake: () => void): void {
    if (this.hasRoom()) wake();
    else this.#waiters.push(wake);
  }
}

interface Entry {
  frame: Buffer;
  seq: number;
}

/**
 * A bounded per-viewer queue in front of a WebSocket: frames go to the socket while it keeps up and
 * wait here while it does not; a full queue is refused so a slow viewer never grows memory.
 */
export class Outbox {
  readonly #socket: WebSocket;
  readonly #limits: OutboxLimits;
  readonly #budget: ByteBudget;
  #queue: Entry[] = [];
  #bytes = 0;
  #lastSent: number | undefined;
  #waiters: Array<() => void> = [];
  readonly #written = () => this.#pump();

  constructor(socket: WebSocket, limits: OutboxLimits, budget: ByteBudget) {
    this.#socket = socket;
    this.#limits = limits;
    this.#budget = budget;
    socket.once('close', () => {
      this.discard();
      this.#wake();
    });
  }

  /** Seq of the last frame handed to the socket (the peer gets it before anything sent later). */
  get lastSent(): number | undefined {
    return this.#lastSent;
  }

  fits(frame: Buffer): boolean {
    if (this.#queue.length === 0) return true;
    return (
      this.#queue.length < this.#limits.maxFrames &&
      this.#bytes + frame.length <= this.#limits.maxBytes &&
      this.#budget.fits(frame.length)
    );
  }

  /** Queues a frame; false (and nothing queued) when the queue is full. */
  push(frame: Buffer, seq: number): boolean {
    if (!this.fits(frame)) return false;
    this.#queue.push({ frame, seq });
    this.#bytes += frame.length;
    this.#budget.add(frame.length);
    this.#pump();
    return true;
  }

  /** Resolves true once the queue is at most half full and the shared budget has room, false if the socket closed. */
  async room(): Promise<boolean> {
    while (this.#socket.readyState === WebSocket.OPEN && !(this.#hasRoom() && this.#budget.hasRoom())) {
      // Own waiters also wake on close; the budget's wake the viewer when other viewers drain.
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        if (this.#hasRoom()) this.#budget.wait(resolve);
      });
    }
    return this.#socket.readyState === WebSocket.OPEN;
  }

  /** Resolves once every queued frame has been handed to the socket (or the socket closed). */
  async drained(): Promise<void> {
    while (this.#queue.length > 0 && this.#socket.readyState === WebSocket.OPEN)
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Drops everything queued; returns how many frames were dropped. */
  discard(): number {
    const dropped = this.#queue.length;
    this.#queue = [];
    this.#budget.release(this.#bytes);
    this.#bytes = 0;
    return dropped;
  }

  #hasRoom(): boolean {
    return (
      this.#socket.readyState !== WebSocket.OPEN ||
      (this.#queue.length <= this.#limits.maxFrames / 2 && this.#bytes <= this.#limits.maxBytes / 2)
    );
  }

  #pump(): void {
    const socket = this.#socket;
    while (
      this.#queue.length > 0 &&
      socket.readyState === WebSocket.OPEN &&
      socket.bufferedAmount < this.#limits.socketHighWater
    ) {
      const entry = this.#queue.shift()!;
      this.#bytes -= entry.frame.length;
      this.#budget.release(entry.frame.length);
      // Each write's completion pumps again, so the queue drains as fast as the socket does.
      socket.send(entry.frame, { binary: false }, this.#written);
      this.#lastSent = entry.seq;
    }
    if (this.#waiters.length > 0 && this.#hasRoom()) this.#wake();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
