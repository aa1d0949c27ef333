import { encodeFrame, type Frame } from '../../src/protocol/frames.ts';

export type FrameSink = (frame: Frame) => void;

/** Writes each frame with one write call so it is never interleaved with the runner's own output. */
export function stdoutFrames(nonce: string, write: (text: string) => void): FrameSink {
  return (frame) => write(encodeFrame(nonce, frame));
}
