import type { EventKind } from '../store/events.ts';
import type { EventRow } from '../store/schema.ts';

export interface PageQuery {
  sessionId: string;
  after: number;
  kinds?: EventKind[];
  limit: number;
}

/** Complete blocks kept for viewers a little behind the others: a block at or below the head never changes. */
const KEEP_BLOCKS = 16;
const KEEP_MS = 5000;

type Load = (query: PageQuery & { upTo?: number }) => Promise<EventRow[]>;

/**
 * One database read per page however many viewers replay the same range. An unfiltered replay reads
 * blocks aligned to multiples of the page size, so viewers at different cursors still ask for the same
 * block; concurrent reads of a block share one query and the last few complete blocks are kept briefly.
 * Every reader gets the same row objects, so what is encoded from them (frames) is encoded once too.
 */
export class SharedReads {
  readonly #inFlight = new Map<string, Promise<EventRow[]>>();
  readonly #kept = new Map<string, { rows: EventRow[]; at: number }>();
  readonly #load: Load;

  constructor(load: Load) {
    this.#load = load;
  }

  /** A page after `after`, in-flight reads shared (filtered replays, long polls). */
  read(query: PageQuery): Promise<EventRow[]> {
    const key = `p:${query.sessionId}:${query.after}:${query.limit}:${[...(query.kinds ?? [])].sort().join(',')}`;
    return this.#shared(key, () => this.#load(query));
  }

  /**
   * Replay from `after` up to at least `head` (every seq up to it is committed). Unfiltered, it answers
   * the whole aligned block holding after+1, rows at or before `after` included: callers skip them.
   */
  async replay(query: PageQuery & { head: number }): Promise<EventRow[]> {
    if (query.kinds && query.kinds.length > 0) return this.read(query);
    const { sessionId, after, limit, head } = query;
    const from = Math.floor(after / limit) * limit;
    const upTo = from + limit;
    const key = `b:${sessionId}:${from}:${limit}`;
    const kept = this.#kept.get(key);
    const block =
      kept && performance.now() - kept.at < KEEP_MS
        ? kept.rows
        : await this.#shared(key, async () => {
            const rows = await this.#load({ sessionId, after: from, upTo, limit });
            if (upTo <= head) this.#keep(key, rows);
            return rows;
          });
    // An empty stretch (pruned by retention) below the head: jump it with an ordinary read.
    if ((block.at(-1)?.seq ?? 0) <= after && upTo < head) return this.read(query);
    return block;
  }

  #shared(key: string, load: () => Promise<EventRow[]>): Promise<EventRow[]> {
    let pending = this.#inFlight.get(key);
    if (!pending) {
      pending = load().finally(() => this.#inFlight.delete(key));
      this.#inFlight.set(key, pending);
    }
    return pending;
  }

  #keep(key: string, rows: EventRow[]): void {
    this.#kept.delete(key);
    this.#kept.set(key, { rows, at: performance.now() });
    for (const oldest of this.#kept.keys()) {
      if (this.#kept.size <= KEEP_BLOCKS) break;
      this.#kept.delete(oldest);
    }
  }
}
