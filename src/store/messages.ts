import { and, asc, eq, gt, inArray, sql } from 'drizzle-orm';
import { AppError, NotFoundError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { newId } from './ids.ts';
import { type MessageRow, messages, sessions } from './schema.ts';

/** Carries an earlier message with the same Idempotency-Key out of (and so rolls back) the transaction. */
class Retried {
  constructor(readonly message: MessageRow) {}
}

/**
 * Stores an inbound message with the next per-session seq. Taking the seq locks the session row,
 * which serialises concurrent posts, so a retried Idempotency-Key returns the original instead of a
 * duplicate (and, rolled back, leaves no gap in the seqs).
 */
export async function enqueueMessage(
  db: Queryable,
  input: {
    sessionId: string;
    body: string;
    idempotencyKey?: string | undefined;
    requestHash?: string;
    /** Chosen by the caller when files named after the message were written first (attachments). */
    id?: string | undefined;
  },
): Promise<{ message: MessageRow; created: boolean }> {
  try {
    return await db.transaction(async (tx) => {
      const [counter] = await tx
        .update(sessions)
        .set({ messageSeq: sql`${sessions.messageSeq} + 1` })
        .where(eq(sessions.id, input.sessionId))
        .returning({ seq: sessions.messageSeq });
      if (!counter) throw new NotFoundError('session', input.sessionId);
      if (input.idempotencyKey !== undefined) {
        const [existing] = await tx
          .select()
          .from(messages)
          .where(
            and(eq(messages.sessionId, input.sessionId), eq(messages.idempotencyKey, input.idempotencyKey)),
          );
        if (existing) {
          // Rows stored before request hashes existed are compared by their text, the whole body then.
          const same = existing.requestHash
            ? existing.requestHash === input.requestHash
            : existing.body === input.body;
          if (!same)
            throw new AppError(
              'IDEMPOTENCY_KEY_REUSED',
              `Idempotency-Key ${JSON.stringify(input.idempotencyKey)} was used for message ${existing.id} with a different body`,
            );
          throw new Retried(existing);
        }
      }
      const [message] = await tx
        .insert(messages)
        .values({
          id: input.id ?? newId('msg'),
          sessionId: input.sessionId,
          seq: counter.seq,
          idempotencyKey: input.idempotencyKey ?? null,
          requestHash: input.requestHash ?? null,
          body: input.body,
        })
        .returning();
      return { message: message!, created: true };
    });
  } catch (err) {
    if (err instanceof Retried) return { message: err.message, created: false };
    throw err;
  }
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
  // A CTE is evaluated once: as a plain IN-subquery PostgreSQL may re-run it per row and take past the limit.
  const oldest = db.$with('oldest').as(
    db
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.sessionId, input.sessionId), eq(messages.status, 'pending')))
      .orderBy(asc(messages.seq))
      .limit(input.limit)
      .for('update', { skipLocked: true }),
  );
  const taken = await db
    .with(oldest)
    .update(messages)
    .set({
      status: 'delivered',
      deliveredGeneration: input.generation,
      attempts: sql`${messages.attempts} + 1`,
      updatedAt: new Date(),
    })
    .where(
      and(inArray(messages.id, db.select({ id: oldest.id }).from(oldest)), eq(messages.status, 'pending')),
    )
    .returning();
  return taken.sort((a, b) => a.seq - b.seq);
}

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
