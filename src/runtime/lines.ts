import { Buffer } from 'node:buffer';
import type { Readable } from 'node:stream';

/** Longest line kept by default, in bytes. */
const MAX_LINE_BYTES = 16 * 1024;
/** Appended to a line cut at the length cap; the rest of that line is dropped. */
export const LINE_TRUNCATED = ' …[truncated]';

/** Drops a trailing incomplete UTF-8 sequence so a cut never splits a character. */
function cutAtCharBoundary(buf: Buffer): Buffer {
  let i = buf.length - 1;
  const stop = Math.max(0, buf.length - 4);
  while (i > stop && (buf[i]! & 0xc0) === 0x80) i--;
  const lead = buf[i];
  if (lead === undefined || lead < 0xc0) return buf;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
  return buf.length - i < need ? buf.subarray(0, i) : buf;
}

/**
 * Splits a byte stream into lines across chunks; the one line splitter of berth's host side (the
 * agent protocol keeps its own frame-aware one in src/protocol/frames.ts). Invalid UTF-8 becomes
 * U+FFFD and a trailing \r is dropped. A line over maxLineBytes is emitted as soon as it reaches the
 * cap, cut at a character boundary and followed by LINE_TRUNCATED; the rest of that line is dropped,
 * so memory stays bounded by the cap. `end()` flushes a last line without \n.
 */
export class LineSplitter {
  private readonly max: number;
  private parts: Buffer[] = [];
  private size = 0;
  private skipping = false;
  private out: string[] = [];

  constructor(maxLineBytes = MAX_LINE_BYTES) {
    this.max = maxLineBytes;
  }

  push(chunk: Buffer | string): string[] {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    let start = 0;
    while (start < bytes.length) {
      const nl = bytes.indexOf(10, start);
      const end = nl === -1 ? bytes.length : nl;
      const next = nl === -1 ? bytes.length : nl + 1;
      if (this.skipping) {
        if (nl !== -1) this.skipping = false;
        start = next;
        continue;
      }
      const seg = bytes.subarray(start, end);
      const room = this.max - this.size;
      if (seg.length > room) {
        this.parts.push(seg.subarray(0, room));
        this.skipping = nl === -1;
        this.emit(true);
      } else if (nl === -1) {
        this.parts.push(Buffer.from(seg));
        this.size += seg.length;
      } else {
        this.parts.push(seg);
        this.emit(false);
      }
      start = next;
    }
    return this.drain();
  }

  end(): string[] {
    if (this.size > 0) this.emit(false);
    this.skipping = false;
    return this.drain();
  }

  private emit(cut: boolean): void {
    const line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    const text = cut ? cutAtCharBoundary(line).toString('utf8') + LINE_TRUNCATED : line.toString('utf8');
    this.out.push(text.endsWith('\r') ? text.slice(0, -1) : text);
  }

  private drain(): string[] {
    const out = this.out;
    this.out = [];
    return out;
  }
}

/** Hands every line of a readable stream to `emit`; resolves when the stream ends or fails. */
export function onLines(
  stream: Readable,
  emit: (line: string) => void,
  maxLineBytes?: number,
): Promise<void> {
  const splitter = new LineSplitter(maxLineBytes);
  return new Promise((resolve) => {
    stream.on('data', (chunk: Buffer) => {
      for (const line of splitter.push(chunk)) emit(line);
    });
    const finish = () => {
      for (const line of splitter.end()) emit(line);
      resolve();
    };
    stream.once('end', finish);
    // A failed pipe ends the output like a closed one; the process's exit status reports the failure.
    stream.once('error', finish);
  });
}

/** Single-consumer async queue; keeps at most `max` unread items (oldest dropped). */
export class LineQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiters: ((result: IteratorResult<T>) => void)[] = [];
  private ended = false;

  constructor(private readonly max = 10_000) {}

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (this.items.length > this.max) this.items.shift();
  }

  end(): void {
    this.ended = true;
    for (const waiter of this.waiters.splice(0)) waiter({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
    };
  }
}
