import { Buffer } from 'node:buffer';
import type { EventRow } from '../../events/event-log.ts';
import { presentEvent } from '../present.ts';

/** The one subprotocol berth speaks; echoed only when the client offered it. */
export const SUBPROTOCOL = 'berth.v1';

/** Close codes of the stream (documented in openapi.yaml). */
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_INTERNAL_ERROR = 1011;
export const CLOSE_TRY_AGAIN_LATER = 1013;
export const CLOSE_TOO_SLOW = 4008;

const frames = new WeakMap<EventRow, Buffer>();

/** The JSON text of an event frame; live rows are shared by every viewer, so each is encoded once. */
export function eventFrame(row: EventRow): Buffer {
  let frame = frames.get(row);
  if (!frame) {
    frame = Buffer.from(JSON.stringify({ type: 'event', ...presentEvent(row) }));
    frames.set(row, frame);
  }
  return frame;
}

export const overflowFrame = (missed: number, resumeAfter: number): string =>
  JSON.stringify({ type: 'overflow', missed, resumeAfter });

export const resumeHint = (reason: string, after: number): string => `${reason}; resume with after=${after}`;
