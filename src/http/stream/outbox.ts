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
  #queue: Entry[] = [];
  #bytes = 0;
  #lastSent: number | undefined;
  #waiters: Array<() => void> = [];
  readonly #written = () => this.#pump();

  constructor(socket: WebSocket, limits: OutboxLimits) {
    this.#socket = socket;
    this.#limits = limits;
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
    return this.#queue.length < this.#limits.maxFrames && this.#bytes + frame.length <= this.#limits.maxBytes;
  }

  /** Queues a frame; false (and nothing queued) when the queue is full. */
  push(frame: Buffer, seq: number): boolean {
    if (!this.fits(frame)) return false;
    this.#queue.push({ frame, seq });
    this.#bytes += frame.length;
    this.#pump();
    return true;
  }

  /** Resolves true once the queue is at most half full, false if the socket is no longer open. */
  async room(): Promise<boolean> {
    if (!this.#hasRoom()) await new Promise<void>((resolve) => this.#waiters.push(resolve));
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
