import { and, asc, eq, gt, inArray, notExists, sql } from 'drizzle-orm';
import { AppError, NotFoundError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { newId } from './ids.ts';
import { preparedPer } from './prepared.ts';
import { type MessageRow, messages, sessions } from './schema.ts';
import { isNotNullViolation, isUniqueViolation } from './sql-errors.ts';

export interface NewMessage {
  sessionId: string;
  body: string;
  idempotencyKey?: string | undefined;
  requestHash?: string;
}

/** Statements tried when a concurrent post with the same Idempotency-Key commits in between. */
const ENQUEUE_TRIES = 3;

/**
 * Stores an inbound message with the next per-session seq in one statement (one round trip, no
 * transaction): taking the seq locks the session row, which serialises concurrent posts, and the
 * insert reads that seq, so a failed insert rolls the counter back and leaves no gap. A repeated
 * Idempotency-Key takes no seq and returns the original; a concurrent twin loses on the unique index
 * and, tried again, finds the one that won.
 */
export async function enqueueMessage(
  db: Queryable,
  input: NewMessage,
): Promise<{ message: MessageRow; created: boolean }> {
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

const p = (name: string) => sql.placeholder(name);

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
    id: newId('msg'),
    sessionId: input.sessionId,
    key: input.idempotencyKey ?? null,
    requestHash: input.requestHash ?? null,
    body: input.body,
  });
}

export async function getMessage(db: Queryable, sessionId: string, id: string): Promise<MessageRow> {
  const [row] = await db
    .select()
    .from(messages)
    .where(and(eq(messages.sessionId, sessionId), eq(messages.id, id)));
  if (!row) throw new NotFoundError('message', id);
  return row;
}

export async function listMessages(
  db: Queryable,
  query: { sessionId: string; after: number; limit: number },
): Promise<MessageRow[]> {
  return db
    .select()
    .from(messages)
    .where(and(eq(messages.sessionId, query.sessionId), gt(messages.seq, query.after)))
    .orderBy(asc(messages.seq))
    .limit(query.limit);
}

export async function pendingMessages(db: Queryable, sessionId: string, limit = 100): Promise<MessageRow[]> {
  return db
    .select()
    .from(messages)
    .where(and(eq(messages.sessionId, sessionId), eq(messages.status, 'pending')))
    .orderBy(asc(messages.seq))
    .limit(limit);
}

/**
 * Hands the oldest pending messages to a generation in one statement: they become `delivered`
 * (attempts + 1) and come back in seq order, ready to write to the container.
 */
export async function takePending(
  db: Queryable,
  input: { sessionId: string; generation: number; limit: number },
): Promise<MessageRow[]> {
  const taken = await takePendingStatement(db).execute({ ...input, now: new Date().toISOString() });
  return taken.sort((a, b) => a.seq - b.seq);
}

const takePendingStatement = preparedPer((db) => {
  // A CTE is evaluated once: as a plain IN-subquery PostgreSQL may re-run it per row and take past the limit.
  const oldest = db.$with('oldest').as(
    db
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.sessionId, p('sessionId')), eq(messages.status, 'pending')))
      .orderBy(asc(messages.seq))
      .limit(p('limit'))
      .for('update', { skipLocked: true }),
  );
  return db
    .with(oldest)
    .update(messages)
    .set({
      status: 'delivered',
      deliveredGeneration: sql`${p('generation')}`,
      attempts: sql`${messages.attempts} + 1`,
      updatedAt: sql`${p('now')}`,
    })
    .where(
      and(inArray(messages.id, db.select({ id: oldest.id }).from(oldest)), eq(messages.status, 'pending')),
    )
    .returning()
    .prepare('take_pending');
});

/** Messages handed to a generation and not settled yet, in seq order. */
export async function deliveredTo(
  db: Queryable,
  input: { sessionId: string; generation: number },
): Promise<MessageRow[]> {
  return db
    .select()
    .from(messages)
    .where(
      and(
        eq(messages.sessionId, input.sessionId),
        eq(messages.status, 'delivered'),
        eq(messages.deliveredGeneration, input.generation),
      ),
    )
    .orderBy(asc(messages.seq));
}

/** Marks a delivered message done or failed; returns false when it was not in flight (a duplicate ack). */
export async function settleMessage(
  db: Queryable,
  input: { sessionId: string; id: string; status: 'done' | 'failed'; error?: string },
): Promise<boolean> {
  const rows = await db
    .update(messages)
    .set({ status: input.status, error: input.error ?? null, updatedAt: new Date() })
    .where(
      and(
        eq(messages.sessionId, input.sessionId),
        eq(messages.id, input.id),
        eq(messages.status, 'delivered'),
      ),
    )
    .returning({ id: messages.id });
  return rows.length > 0;
}

/**
 * When a run ends, its unacked messages go back to pending, or to failed once they have used
 * their attempts. Returns the failed ones so the caller can say why.
 */
export async function requeueUnacked(
  db: Queryable,
  input: {
    sessionId: string;
    generation?: number;
    maxAttempts: number;
    reason: string;
    /** The run never had a fair chance (its runtime was gone): the attempt does not count. */
    refundAttempt?: boolean;
  },
): Promise<{ requeued: number; failed: MessageRow[] }> {
  const scope = and(
    eq(messages.sessionId, input.sessionId),
    eq(messages.status, 'delivered'),
    input.generation !== undefined ? eq(messages.deliveredGeneration, input.generation) : undefined,
  );
  const failed = input.refundAttempt
    ? []
    : await db
        .update(messages)
        .set({
          status: 'failed',
          error: `gave up after ${input.maxAttempts} attempts; last run ended: ${input.reason}`,
          updatedAt: new Date(),
        })
        .where(and(scope, sql`${messages.attempts} >= ${input.maxAttempts}`))
        .returning();
  const requeued = await db
    .update(messages)
    .set({
      status: 'pending',
      updatedAt: new Date(),
      ...(input.refundAttempt ? { attempts: sql`greatest(${messages.attempts} - 1, 0)` } : {}),
    })
    .where(scope)
    .returning({ id: messages.id });
  return { requeued: requeued.length, failed };
}
