import type { EventKind } from '../store/events.ts';
import type { EventRow } from '../store/schema.ts';

export interface PageQuery {
  sessionId: string;
  after: number;
  kinds?: EventKind[];
  limit: number;
}

/** Full pages kept for viewers a moment behind the others (a full page never changes). */
const KEEP_PAGES = 4;
const KEEP_MS = 1000;

/**
 * One database read per page however many viewers replay the same range: concurrent reads of the
 * same page share one query, and the last few full pages are kept for a second. Every reader gets
 * the same row objects, so what is encoded from them (frames) is encoded once too.
 */
export class SharedReads {
  readonly #inFlight = new Map<string, Promise<EventRow[]>>();
  readonly #recent = new Map<string, { rows: EventRow[]; at: number }>();

  read(query: PageQuery, load: () => Promise<EventRow[]>): Promise<EventRow[]> {
    const key = [query.sessionId, query.after, query.limit, [...(query.kinds ?? [])].sort().join(',')].join(
      ':',
    );
    const kept = this.#recent.get(key);
    if (kept && performance.now() - kept.at < KEEP_MS) return Promise.resolve(kept.rows);
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = load()
        .then((rows) => {
          if (rows.length === query.limit) this.#keep(key, rows);
          return rows;
        })
        .finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    return pending;
  }

  #keep(key: string, rows: EventRow[]): void {
    this.#recent.delete(key);
    this.#recent.set(key, { rows, at: performance.now() });
    for (const oldest of this.#recent.keys()) {
      if (this.#recent.size <= KEEP_PAGES) break;
      this.#recent.delete(oldest);
    }
  }
}
