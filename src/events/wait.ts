import type { EventRow, Listener } from './event-log.ts';
import type { PageQuery } from './shared-reads.ts';

/** Events after `after`, waiting up to `waitMs` for the first one when there are none yet (a long poll). */
export async function waitForEvents(
  log: {
    subscribe(sessionId: string, listener: Listener): () => void;
    read(q: PageQuery): Promise<EventRow[]>;
  },
  query: PageQuery,
  opts: { waitMs: number; signal: AbortSignal | undefined; closed: () => boolean },
): Promise<EventRow[]> {
  const { waitMs, signal } = opts;
  // Subscribed before the read: when the read finds nothing, every later event reaches `arrived`,
  // in order and without gaps, so the answer needs no second read.
  const arrived: EventRow[] = [];
  let wake: (() => void) | undefined;
  const unsubscribe = log.subscribe(query.sessionId, (rows) => {
    for (const r of rows) {
      if (r.seq > query.after && (!query.kinds?.length || query.kinds.includes(r.kind))) arrived.push(r);
    }
    if (arrived.length > 0) wake?.();
  });
  try {
    const stored = await log.read(query);
    if (stored.length > 0 || waitMs <= 0) return stored;
    if (arrived.length === 0 && !signal?.aborted && !opts.closed()) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        wake = done;
        signal?.addEventListener('abort', done, { once: true });
      });
    }
    return arrived.slice(0, query.limit);
  } finally {
    unsubscribe();
  }
}
