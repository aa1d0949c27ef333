import { Buffer } from 'node:buffer';
import type { EventRow } from '../../events/event-log.ts';
import { presentEvent } from '../present.ts';

/** One event per frame: the form every client understands. */
export const SUBPROTOCOL = 'berth.v1';
/** Many events per frame (`{"type":"events","events":[…]}`): a viewer opts in by offering it. */
export const SUBPROTOCOL_BATCH = 'berth.v2';

/** Events per batch frame, so one frame stays well inside a viewer's queue limits. */
export const MAX_BATCH_EVENTS = 256;

const json = new WeakMap<EventRow, string>();
const frames = new WeakMap<EventRow, Buffer>();
const batches = new WeakMap<readonly EventRow[], BatchFrame[]>();

export interface BatchFrame {
  frame: Buffer;
  /** Seq of the batch's last event. */
  last: number;
}

/** The JSON of one event; live and replayed rows are shared by every viewer, so each is encoded once. */
function eventJson(row: EventRow): string {
  let text = json.get(row);
  if (text === undefined) {
    text = JSON.stringify(presentEvent(row));
    json.set(row, text);
  }
  return text;
}

/** The text of a single-event (v1) frame. */
export function eventFrame(row: EventRow): Buffer {
  let frame = frames.get(row);
  if (!frame) {
    frame = Buffer.from(`{"type":"event",${eventJson(row).slice(1)}`);
    frames.set(row, frame);
  }
  return frame;
}

/** v2 frames of `rows` (in order), at most MAX_BATCH_EVENTS each. */
export function batchFrames(rows: readonly EventRow[]): BatchFrame[] {
  const out: BatchFrame[] = [];
  for (let i = 0; i < rows.length; i += MAX_BATCH_EVENTS) {
    const part = rows.slice(i, i + MAX_BATCH_EVENTS);
    out.push({
      frame: Buffer.from(`{"type":"events","events":[${part.map(eventJson).join(',')}]}`),
      last: part.at(-1)!.seq,
    });
  }
  return out;
}

/** v2 frames of rows[start…]: the shared frames of `rows` from the first chunk boundary on. */
export function batchFramesFrom(rows: readonly EventRow[], start: number): BatchFrame[] {
  if (start === 0) return sharedBatchFrames(rows);
  const boundary = Math.ceil(start / MAX_BATCH_EVENTS) * MAX_BATCH_EVENTS;
  const shared = sharedBatchFrames(rows).slice(boundary / MAX_BATCH_EVENTS);
  return boundary === start ? shared : [...batchFrames(rows.slice(start, boundary)), ...shared];
}

/** batchFrames of an array every viewer receives as is (a live dispatch, a shared page): built once. */
export function sharedBatchFrames(rows: readonly EventRow[]): BatchFrame[] {
  let out = batches.get(rows);
  if (!out) {
    out = batchFrames(rows);
    batches.set(rows, out);
  }
  return out;
}

export const overflowFrame = (missed: number, resumeAfter: number): string =>
  JSON.stringify({ type: 'overflow', missed, resumeAfter });

export const resumeHint = (reason: string, after: number): string => `${reason}; resume with after=${after}`;
