import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { type Frame, type MessageInput, preview, validateFrame } from './frame-types.ts';

/**
 * Host side of the agent container protocol (see container/README.md).
 * stdin: one JSON object per line. stdout: frames of exactly three lines,
 *   <<<berth-frame:NONCE
 *   {"type":...}
 *   berth-frame:NONCE>>>
 * where NONCE is a per-run secret; every other stdout line is plain output.
 */

export type { Frame, FrameType, HostCommand, MessageInput, ToolFrame, UsageFrame } from './frame-types.ts';

/** What the stdout parser yields: a frame, a plain output line, or a rejected frame described as a log line. */
export type StdoutItem =
  | { kind: 'frame'; frame: Frame }
  | { kind: 'line'; line: string }
  | { kind: 'invalid'; message: string };

const DEFAULT_MAX_LINE_BYTES = 16 * 1024;
const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Appended to a line cut at the length cap; the rest of that line is dropped. */
export const TRUNCATION_MARKER = ' …[truncated]';

const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

/** A fresh per-run nonce: 128 random bits, hex. */
export function newFrameNonce(): string {
  return randomBytes(16).toString('hex');
}

export function frameBegin(nonce: string): string {
  return `<<<berth-frame:${nonce}`;
}

export function frameEnd(nonce: string): string {
  return `berth-frame:${nonce}>>>`;
}

export function isValidNonce(nonce: string | undefined): nonce is string {
  return nonce !== undefined && NONCE_PATTERN.test(nonce);
}

/** Three lines in one string; JSON.stringify escapes newlines, so the payload is always exactly one line. */
export function encodeFrame(nonce: string, frame: Frame): string {
  return `${frameBegin(nonce)}\n${JSON.stringify(frame)}\n${frameEnd(nonce)}\n`;
}

export function encodeMessage(message: MessageInput): string {
  return `${JSON.stringify({ type: 'message', id: message.id, seq: message.seq, text: message.text })}\n`;
}

export function encodeClose(): string {
  return '{"type":"close"}\n';
}

export function encodeInterrupt(): string {
  return '{"type":"interrupt"}\n';
}

/** The first stdin line of every run: the frame nonce, kept out of the environment (and /proc/<pid>/environ). */
export function encodeStart(nonce: string): string {
  if (!isValidNonce(nonce)) throw new TypeError('frame nonce must be 16-128 characters of [A-Za-z0-9_-]');
  return `${JSON.stringify({ type: 'start', nonce })}\n`;
}

/** The nonce from a start line, or undefined when the line is not a valid one. */
export function parseStart(line: string): string | undefined {
  try {
    const value = JSON.parse(line) as { type?: unknown; nonce?: unknown };
    if (value?.type !== 'start' || typeof value.nonce !== 'string') return undefined;
    return isValidNonce(value.nonce) ? value.nonce : undefined;
  } catch {
    return undefined;
  }
}

export interface LineLimits {
  /** Longest plain line in bytes; longer lines are cut and marked with TRUNCATION_MARKER. */
  maxLineBytes?: number;
}

export interface FrameLimits extends LineLimits {
  /** Longest frame payload (the JSON line) in bytes; longer frames are rejected. */
  maxFrameBytes?: number;
}

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

type LineSink = (line: Buffer, cut: boolean) => void;

/**
 * Splits a byte stream on \n with a per-line byte cap that may change between lines.
 * Holds at most `cap` bytes: a line reaching the cap is emitted cut and the rest up to \n is skipped.
 * Not src/runtime/lines.ts: protocol may not import its sibling runtime, is bundled into the agent,
 * and needs a cap that switches between payload and plain lines.
 */
class CappedLines {
  private parts: Buffer[] = [];
  private size = 0;
  private skipping = false;

  constructor(
    private readonly cap: () => number,
    private readonly sink: LineSink,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(10, start);
      const end = nl === -1 ? chunk.length : nl;
      const next = nl === -1 ? chunk.length : nl + 1;
      if (this.skipping) {
        if (nl !== -1) this.skipping = false;
        start = next;
        continue;
      }
      const seg = chunk.subarray(start, end);
      const room = this.cap() - this.size;
      if (seg.length > room) {
        this.parts.push(seg.subarray(0, room));
        this.skipping = nl === -1;
        this.sink(this.take(), true);
      } else if (nl === -1) {
        this.parts.push(Buffer.from(seg));
        this.size += seg.length;
      } else {
        this.parts.push(seg);
        this.sink(this.take(), false);
      }
      start = next;
    }
  }

  /** Emits a final line that had no trailing newline. */
  end(): void {
    if (this.size > 0) this.sink(this.take(), false);
    this.skipping = false;
  }

  private take(): Buffer {
    const line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.parts = [];
    this.size = 0;
    return line;
  }
}

function decodeLine(line: Buffer, cut: boolean): string {
  return cut ? cutAtCharBoundary(line).toString('utf8') + TRUNCATION_MARKER : line.toString('utf8');
}

type State = 'plain' | 'payload' | 'end';

/**
 * Parses container stdout into frames and plain lines. Only marker lines carrying this run's nonce
 * open a frame; a marker with another nonce is plain output. Frames with bad JSON, an unknown shape,
 * a missing end marker or a payload over maxFrameBytes are dropped and reported as `invalid` items.
 * Memory stays bounded by maxFrameBytes (inside a frame) or maxLineBytes (elsewhere).
 */
export class FrameParser {
  private readonly begin: string;
  private readonly finish: string;
  private readonly maxLine: number;
  private readonly maxFrame: number;
  private readonly lines: CappedLines;
  private state: State = 'plain';
  /** The payload of the open frame; null once it was rejected as oversize. */
  private payload: string | null = null;
  private out: StdoutItem[] = [];

  constructor(nonce: string, limits: FrameLimits = {}) {
    if (!isValidNonce(nonce)) throw new TypeError('frame nonce must be 16-128 characters of [A-Za-z0-9_-]');
    this.begin = frameBegin(nonce);
    this.finish = frameEnd(nonce);
    this.maxLine = limits.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    this.maxFrame = limits.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.lines = new CappedLines(
      () => (this.state === 'payload' ? this.maxFrame : Math.max(this.maxLine, this.finish.length)),
      (line, cut) => this.onLine(line, cut),
    );
  }

  push(chunk: Buffer | string): StdoutItem[] {
    this.lines.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return this.drain();
  }

  /** Call when stdout closes: flushes a last partial line and reports an unfinished frame. */
  end(): StdoutItem[] {
    this.lines.end();
    if (this.state !== 'plain') this.invalid('output ended inside a frame');
    this.reset();
    return this.drain();
  }

  private onLine(buf: Buffer, cut: boolean): void {
    if (this.state === 'payload') {
      if (cut) {
        this.invalid(`frame payload exceeds ${this.maxFrame} bytes`);
        this.payload = null;
        this.state = 'end';
        return;
      }
      const text = buf.toString('utf8');
      if (text === this.begin) {
        this.invalid('frame without payload');
        return;
      }
      this.payload = text;
      this.state = 'end';
      return;
    }
    const text = decodeLine(buf, cut);
    if (this.state === 'end') {
      const payload = this.payload;
      this.reset();
      if (text === this.finish) {
        if (payload !== null) this.accept(payload);
        return;
      }
      this.invalid(payload === null ? 'oversize frame without end marker' : 'frame without end marker');
    }
    if (text === this.begin) this.state = 'payload';
    else this.out.push({ kind: 'line', line: text });
  }

  private accept(payload: string): void {
    let value: unknown;
    try {
      value = JSON.parse(payload);
    } catch {
      this.invalid(`frame payload is not JSON: ${preview(payload)}`);
      return;
    }
    const frame = validateFrame(value);
    if (typeof frame === 'string') this.invalid(frame);
    else this.out.push({ kind: 'frame', frame });
  }

  private invalid(reason: string): void {
    this.out.push({ kind: 'invalid', message: `rejected agent frame: ${reason}` });
  }

  private reset(): void {
    this.state = 'plain';
    this.payload = null;
  }

  private drain(): StdoutItem[] {
    const out = this.out;
    this.out = [];
    return out;
  }
}
