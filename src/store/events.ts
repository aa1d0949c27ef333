import { and, asc, eq, gt, inArray, lt, lte, sql } from 'drizzle-orm';
import type { Queryable } from './db.ts';
import { preparedPer } from './prepared.ts';
import { type EventRow, events, messages, sessions } from './schema.ts';

export type EventKind = EventRow['kind'];

export interface NewEvent {
  kind: EventKind;
  stream?: string | null;
  generation?: number | null;
  data: Record<string, unknown>;
  time?: Date;
}

// text and jsonb cannot hold U+0000: one NUL in agent output must not fail, and so lose, a whole batch.
function storable<T>(value: T): T {
  if (typeof value === 'string') return value.replaceAll('\u0000', '\uFFFD') as T;
  if (Array.isArray(value)) return value.map(storable) as T;
  if (value && typeof value === 'object' && !(value instanceof Date))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [storable(k), storable(v)])) as T;
  return value;
}

/**
 * Appends a batch with consecutive seqs taken from the session's counter, in one statement: the whole
 * batch travels as one JSON parameter (no per-row parameters to build or parse), and the rows handed
 * back are built here rather than read back, so a flush of thousands of log lines is one round trip.
 */
export async function appendEvents(db: Queryable, sessionId: string, batch: NewEvent[]): Promise<EventRow[]> {
  if (batch.length === 0) return [];
  const time = new Date();
  const rows = batch.map((e) => ({
    kind: e.kind,
    stream: e.stream ?? null,
    generation: e.generation ?? null,
    data: e.data,
    time: e.time ?? time,
  }));
  let json = JSON.stringify(rows);
  // Rare: only then pay for the copy that replaces NULs.
  const stored = json.includes('\\u0000') ? storable(rows) : rows;
  if (stored !== rows) json = JSON.stringify(stored);
  const result = await db.execute(sql`
    with counter as (
      update ${sessions} set event_seq = event_seq + ${batch.length} where id = ${sessionId}
      returning event_seq
    ), inserted as (
      insert into ${events} (session_id, seq, kind, stream, generation, data, time)
      select ${sessionId}, counter.event_seq - ${batch.length} + b.ord, b.kind, b.stream, b.generation, b.data, b.time
      from counter, rows from (jsonb_to_recordset(${json}::jsonb)
        as (kind text, stream text, generation integer, data jsonb, time timestamptz)) with ordinality as b(kind, stream, generation, data, time, ord)
      returning 1
    )
    select event_seq::text as last from counter
  `);
  const found = (Array.isArray(result) ? result : (result as { rows: unknown[] }).rows) as { last: string }[];
  if (found.length === 0) return [];
  const first = Number(found[0]!.last) - batch.length + 1;
  return stored.map((e, i) => ({ sessionId, seq: first + i, ...e }));
}

export interface Settle {
  id: string;
  status: 'done' | 'failed';
  error?: string;
}

/**
 * Stores events and settles messages in one statement (one round trip, atomic without a
 * transaction): the session's counter is advanced in a CTE the insert reads its seqs from, and the
 * settles are another CTE, so a message is never `done` without the replies that came before its
 * ack, and a reply is never stored twice for one settled delivery. An unknown session stores nothing.
 */
export async function storeBatch(
  db: Queryable,
  sessionId: string,
  batch: NewEvent[],
  settles: Settle[],
): Promise<EventRow[]> {
  if (settles.length === 0) return appendEvents(db, sessionId, batch);
  const now = new Date();
  // One verdict per message: the first wins, as it would applied one after another.
  const first = [...new Map([...settles].reverse().map((s) => [s.id, s])).values()];
  const values = {
    sessionId,
    now: now.toISOString(),
    verdicts: JSON.stringify(first.map((s) => ({ id: s.id, status: s.status, error: s.error ?? null }))),
    n: batch.length,
    rows: JSON.stringify(
      batch.map((e) => ({
        kind: e.kind,
        stream: storable(e.stream ?? null),
        generation: e.generation ?? null,
        data: storable(e.data),
        time: (e.time ?? now).toISOString(),
      })),
    ),
  };
  if (batch.length === 0) {
    await settleOnly(db).execute(values);
    return [];
  }
  const stored = await appendAndSettle(db).execute(values);
  return stored.sort((a, b) => a.seq - b.seq);
}

const p = (name: string) => sql.placeholder(name);

/** `update messages … from jsonb_to_recordset(…)`: delivered messages become done or failed. */
function settleCte(db: Queryable) {
  const v = sql`v`;
  return db.$with('settled').as(
    db
      .update(messages)
      .set({ status: sql`${v}.status`, error: sql`${v}.error`, updatedAt: sql`${p('now')}::timestamptz` })
      .from(sql`jsonb_to_recordset(${p('verdicts')}::jsonb) as ${v}(id text, status text, error text)`)
      .where(
        and(
          eq(messages.sessionId, p('sessionId')),
          sql`${messages.id} = ${v}.id`,
          eq(messages.status, 'delivered'),
        ),
      )
      .returning({ id: messages.id }),
  );
}

/** The counter CTE the insert takes its seqs from, then the insert of the jsonb rows. */
function buildAppendAndSettle(db: Queryable) {
  const counter = db.$with('counter').as(
    db
      .update(sessions)
      .set({ eventSeq: sql`${sessions.eventSeq} + ${p('n')}::int` })
      .where(eq(sessions.id, p('sessionId')))
      .returning({ first: sql<number>`${sessions.eventSeq} - ${p('n')}::int + 1`.as('first') }),
  );
  // Every column of the table in order (drizzle lists them all in an insert … select).
  return db
    .with(counter, settleCte(db))
    .insert(events)
    .select(
      sql`select ${p('sessionId')}::text, ${counter.first} + e.ord - 1, e.v->>'kind', e.v->>'stream',
        (e.v->>'generation')::int, e.v->'data', (e.v->>'time')::timestamptz
        from ${counter}, jsonb_array_elements(${p('rows')}::jsonb) with ordinality as e(v, ord)`,
    )
    .returning()
    .prepare('append_events_settle');
}

const appendAndSettle = preparedPer(buildAppendAndSettle);
const settleOnly = preparedPer((db) => {
  const settled = settleCte(db);
  return db.with(settled).select({ n: sql<number>`count(*)` }).from(settled).prepare('settle_messages');
});

export async function listEvents(
  db: Queryable,
  query: { sessionId: string; after: number; upTo?: number; kinds?: EventKind[]; limit: number },
): Promise<EventRow[]> {
  return db
    .select()
    .from(events)
    .where(
      and(
        eq(events.sessionId, query.sessionId),
        gt(events.seq, query.after),
        query.upTo !== undefined ? lte(events.seq, query.upTo) : undefined,
        query.kinds && query.kinds.length > 0 ? inArray(events.kind, query.kinds) : undefined,
      ),
    )
    .orderBy(asc(events.seq))
    .limit(query.limit);
}

export async function lastEventSeq(db: Queryable, sessionId: string): Promise<number> {
  const [row] = await db.select({ seq: sessions.eventSeq }).from(sessions).where(eq(sessions.id, sessionId));
  return row?.seq ?? 0;
}

/** Retention: keep at most `keep` newest events per session and nothing older than `before`. */
export async function pruneEvents(db: Queryable, input: { keep: number; before: Date }): Promise<number> {
  const old = await db.delete(events).where(lt(events.time, input.before)).returning({ seq: events.seq });
  const excess = await db.execute(sql`
    delete from ${events} e using ${sessions} s
    where e.session_id = s.id and e.seq <= s.event_seq - ${input.keep}
  `);
  return (
    old.length +
    Number(
      (excess as { count?: number; affectedRows?: number }).count ??
        (excess as { affectedRows?: number }).affectedRows ??
        0,
    )
  );
}

/** The agent's replies to one message: its `output` events, oldest first. */
export async function repliesTo(db: Queryable, sessionId: string, messageId: string): Promise<EventRow[]> {
  return db
    .select()
    .from(events)
    .where(
      and(
        eq(events.sessionId, sessionId),
        eq(events.kind, 'output'),
        sql`${events.data}->>'inReplyTo' = ${messageId}`,
      ),
    )
    .orderBy(asc(events.seq));
}
