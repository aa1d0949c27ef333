/** Frames the runner writes to stdout; the host parses them with src/runner/protocol.ts. */
export type Frame =
  | { type: 'ready' }
  | { type: 'reply'; inReplyTo: string; text: string }
  | { type: 'ack'; id: string }
  | { type: 'heartbeat' }
  | { type: 'error'; id?: string; message: string };

const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

export function validNonce(nonce: string | undefined): nonce is string {
  return nonce !== undefined && NONCE_PATTERN.test(nonce);
}

/** Three lines; JSON.stringify escapes newlines, so the payload is always exactly one line. */
export function encodeFrame(nonce: string, frame: Frame): string {
  return `<<<berth-frame:${nonce}\n${JSON.stringify(frame)}\nberth-frame:${nonce}>>>\n`;
}

export type FrameSink = (frame: Frame) => void;

/** Writes each frame with one write call so it is never interleaved with the runner's own output. */
export function stdoutFrames(nonce: string, write: (text: string) => void): FrameSink {
  return (frame) => write(encodeFrame(nonce, frame));
}
