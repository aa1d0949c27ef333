import { and, asc, eq, gt, inArray, sql } from 'drizzle-orm';
import { NotFoundError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { preparedPer } from './prepared.ts';
import { type MessageRow, messages } from './schema.ts';

export { enqueueMessage, type NewMessage } from './enqueue.ts';

const p = (name: string) => sql.placeholder(name);

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

/** Fails every pending message of a session with one reason (nothing can answer them); returns them. */
export async function failPending(db: Queryable, sessionId: string, error: string): Promise<MessageRow[]> {
  return db
    .update(messages)
    .set({ status: 'failed', error, updatedAt: new Date() })
    .where(and(eq(messages.sessionId, sessionId), eq(messages.status, 'pending')))
    .returning();
}
