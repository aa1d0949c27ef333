import type { EventLog } from '../../events/event-log.ts';
import type { Queryable } from '../../store/db.ts';
import { getMessage } from '../../store/messages.ts';
import type { MessageRow } from '../../store/schema.ts';

// Status changes are not events, so a quiet session is re-read at this pace while a caller waits.
const RECHECK_MS = 250;

const settled = (m: MessageRow) => m.status === 'done' || m.status === 'failed';

/**
 * The message once it is done or failed, or as it stands after `waitMs`. Every event of its session
 * (a reply, an exit, a delivery failure) triggers a re-read, so a waiting caller hears at once.
 */
export async function waitForMessage(
  db: Queryable,
  events: EventLog,
  ids: { sessionId: string; messageId: string },
  waitMs: number,
  signal: AbortSignal,
): Promise<MessageRow> {
  let message = await getMessage(db, ids.sessionId, ids.messageId);
  if (settled(message) || waitMs <= 0) return message;
  const deadline = Date.now() + waitMs;
  let poke: (() => void) | undefined;
  const unsubscribe = events.subscribe(ids.sessionId, () => poke?.());
  try {
    while (!settled(message) && !signal.aborted && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          poke = undefined;
          resolve();
        };
        const timer = setTimeout(done, Math.min(RECHECK_MS, Math.max(0, deadline - Date.now())));
        poke = done;
        signal.addEventListener('abort', done, { once: true });
      });
      message = await getMessage(db, ids.sessionId, ids.messageId);
    }
    return message;
  } finally {
    unsubscribe();
  }
}
