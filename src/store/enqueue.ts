import { and, eq, notExists, sql } from 'drizzle-orm';
import { AppError, NotFoundError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { newId } from './ids.ts';
import { preparedPer } from './prepared.ts';
import { type MessageRow, messages, sessions } from './schema.ts';
import { isNotNullViolation, isUniqueViolation } from './sql-errors.ts';

const p = (name: string) => sql.placeholder(name);

type Enqueued = { message: MessageRow; created: boolean };

/** Messages stored by one coalesced statement at most. */
const MAX_BATCH = 100;

interface Waiting {
  input: NewMessage;
  resolve(result: Enqueued): void;
  reject(err: unknown): void;
}

/** Per database handle and session: posts waiting while a statement for that session is in flight. */
const queued = new WeakMap<Queryable, Map<string, Waiting[]>>();

/**
 * Stores an inbound message; resolves once it is committed. Posts without an Idempotency-Key that
 * arrive while a statement for the same session is in flight (they would only wait for its row lock)
 * are stored together by the next one, with consecutive seqs in arrival order: a burst costs a few
 * statements instead of one each, and the session row is free sooner for a wake.
 */
export function enqueueMessage(db: Queryable, input: NewMessage): Promise<Enqueued> {
  if (input.idempotencyKey !== undefined) return enqueueOne(db, input);
  const bySession = queued.get(db) ?? new Map<string, Waiting[]>();
  queued.set(db, bySession);
  const waiting = bySession.get(input.sessionId);
  if (waiting) return new Promise((resolve, reject) => waiting.push({ input, resolve, reject }));
  bySession.set(input.sessionId, []);
  return enqueueOne(db, input).finally(() => void drain(db, bySession, input.sessionId));
}

async function drain(db: Queryable, bySession: Map<string, Waiting[]>, sessionId: string): Promise<void> {
  const waiting = bySession.get(sessionId)!;
  while (waiting.length > 0) {
    const batch = waiting.splice(0, MAX_BATCH);
    if (batch.length === 1) {
      await enqueueOne(db, batch[0]!.input).then(batch[0]!.resolve, batch[0]!.reject);
      continue;
    }
    try {
      const rows = await insertBatch(
        db,
        sessionId,
        batch.map((w) => w.input),
      );
      for (const [i, w] of batch.entries()) w.resolve({ message: rows[i]!, created: true });
    } catch {
      // One bad message (or a missing session) must not fail the others: each is tried on its own, in order.
      for (const w of batch) await enqueueOne(db, w.input).then(w.resolve, w.reject);
    }
  }
  bySession.delete(sessionId);
}

/** One statement: the counter advances by the batch's size and the insert takes the seqs in order. */
async function insertBatch(db: Queryable, sessionId: string, batch: NewMessage[]): Promise<MessageRow[]> {
  const n = batch.length;
  const counter = db.$with('counter').as(
    db
      .update(sessions)
      .set({ messageSeq: sql`${sessions.messageSeq} + ${sql.raw(String(n))}` })
      .where(eq(sessions.id, sessionId))
      .returning({ base: sql<number>`${sessions.messageSeq} - ${sql.raw(String(n))}`.as('base') }),
  );
  const rows = await db
    .with(counter)
    .insert(messages)
    .values(
      batch.map((input, i) => ({
        id: input.id ?? newId('msg'),
        sessionId,
        seq: sql`(select ${counter.base} from ${counter}) + ${sql.raw(String(i + 1))}`,
        idempotencyKey: null,
        requestHash: input.requestHash ?? null,
        body: input.body,
      })),
    )
    .returning();
  return rows.sort((a, b) => a.seq - b.seq);
}

export interface NewMessage {
  sessionId: string;
  body: string;
  idempotencyKey?: string | undefined;
  requestHash?: string;
  /** Chosen by the caller when files named after the message were written first (attachments). */
  id?: string | undefined;
}

/** Statements tried when a concurrent post with the same Idempotency-Key commits in between. */
const ENQUEUE_TRIES = 3;

/**
 * Stores one inbound message with the next per-session seq in one statement (one round trip, no
 * transaction): taking the seq locks the session row, which serialises concurrent posts, and the
 * insert reads that seq, so a failed insert rolls the counter back and leaves no gap. A repeated
 * Idempotency-Key takes no seq and returns the original; a concurrent twin loses on the unique index
 * and, tried again, finds the one that won.
 */
async function enqueueOne(db: Queryable, input: NewMessage): Promise<Enqueued> {
  const key = input.idempotencyKey;
  for (let attempt = 1; ; attempt++) {
    try {
      const [message] = await insertNext(db, input);
      return { message: message!, created: true };
    } catch (err) {
      // A null seq: the counter took nothing, because the key was used before or there is no session.
      if (isNotNullViolation(err)) return earlier(db, input);
      if (key === undefined || !isUniqueViolation(err) || attempt >= ENQUEUE_TRIES) throw err;
    }
  }
}

/** The message an Idempotency-Key was first used for, when the body matches. */
async function earlier(db: Queryable, input: NewMessage): Promise<{ message: MessageRow; created: false }> {
  const key = input.idempotencyKey;
  const [existing] =
    key === undefined
      ? []
      : await db
          .select()
          .from(messages)
          .where(and(eq(messages.sessionId, input.sessionId), eq(messages.idempotencyKey, key)));
  if (!existing) throw new NotFoundError('session', input.sessionId);
  // Rows stored before request hashes existed are compared by their text, the whole body then.
  const same = existing.requestHash
    ? existing.requestHash === input.requestHash
    : existing.body === input.body;
  if (!same)
    throw new AppError(
      'IDEMPOTENCY_KEY_REUSED',
      `Idempotency-Key ${JSON.stringify(key)} was used for message ${existing.id} with a different body`,
    );
  return { message: existing, created: false };
}

/** `with counter as (update sessions … returning seq) insert into messages values (…, (select seq from counter), …)`. */
function buildInsertNext(db: Queryable, withKey: boolean) {
  const unused = withKey
    ? notExists(
        db
          .select({ one: sql`1` })
          .from(messages)
          .where(and(eq(messages.sessionId, p('sessionId')), eq(messages.idempotencyKey, p('key')))),
      )
    : undefined;
  const counter = db.$with('counter').as(
    db
      .update(sessions)
      .set({ messageSeq: sql`${sessions.messageSeq} + 1` })
      .where(and(eq(sessions.id, p('sessionId')), unused))
      .returning({ seq: sessions.messageSeq }),
  );
  return db
    .with(counter)
    .insert(messages)
    .values({
      id: p('id'),
      sessionId: p('sessionId'),
      seq: sql`(select ${counter.seq} from ${counter})`,
      idempotencyKey: p('key'),
      requestHash: p('requestHash'),
      body: p('body'),
    })
    .returning()
    .prepare(withKey ? 'enqueue_message_keyed' : 'enqueue_message');
}

const insertNextPlain = preparedPer((db) => buildInsertNext(db, false));
const insertNextKeyed = preparedPer((db) => buildInsertNext(db, true));

function insertNext(db: Queryable, input: NewMessage): Promise<MessageRow[]> {
  const statement = input.idempotencyKey === undefined ? insertNextPlain(db) : insertNextKeyed(db);
  return statement.execute({
    id: input.id ?? newId('msg'),
    sessionId: input.sessionId,
    key: input.idempotencyKey ?? null,
    requestHash: input.requestHash ?? null,
    body: input.body,
  });
}
