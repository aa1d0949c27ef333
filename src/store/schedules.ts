import { and, asc, count, desc, eq, gt, gte, inArray, lte, sql } from 'drizzle-orm';
import { AppError, NotFoundError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { newId } from './ids.ts';
import { enqueueMessage } from './messages.ts';
import { type MessageRow, messages, type ScheduleRow, schedules, sessions } from './schema.ts';

export type ScheduleTrigger = Pick<ScheduleRow, 'cron' | 'everyMs' | 'at' | 'timezone'>;
export type ScheduleChange = Partial<
  Pick<
    ScheduleRow,
    | 'text'
    | 'cron'
    | 'everyMs'
    | 'at'
    | 'timezone'
    | 'status'
    | 'pausedReason'
    | 'nextRunAt'
    | 'failuresSince'
  >
>;

/** The idempotency key of a firing: one message per schedule and planned time, whoever fires it. */
export const firingKey = (scheduleId: string, plannedAt: Date) =>
  `schedule:${scheduleId}:${plannedAt.toISOString()}`;

/**
 * Stores a schedule unless the session already has `max`. The session row lock serialises concurrent
 * creations, so the limit holds under races; it is taken before the schedule row, as firing does.
 */
export async function insertSchedule(
  db: Queryable,
  input: ScheduleTrigger & { sessionId: string; text: string; nextRunAt: Date },
  max: number,
): Promise<ScheduleRow> {
  return db.transaction(async (tx) => {
    const [session] = await tx
      .select({ groupId: sessions.groupId })
      .from(sessions)
      .where(eq(sessions.id, input.sessionId))
      .for('update');
    if (!session) throw new NotFoundError('session', input.sessionId);
    const [existing] = await tx
      .select({ n: count() })
      .from(schedules)
      .where(eq(schedules.sessionId, input.sessionId));
    if (existing!.n >= max)
      throw new AppError('SCHEDULE_LIMIT_REACHED', `session ${input.sessionId} already has ${max} schedules`);
    const [row] = await tx
      .insert(schedules)
      .values({ id: newId('sch'), groupId: session.groupId, ...input })
      .returning();
    return row!;
  });
}

export async function getSchedule(db: Queryable, sessionId: string, id: string): Promise<ScheduleRow> {
  const [row] = await db
    .select()
    .from(schedules)
    .where(and(eq(schedules.sessionId, sessionId), eq(schedules.id, id)));
  if (!row) throw new NotFoundError('schedule', id);
  return row;
}

/** Schedules of one session or one group (or all), in creation order, after a cursor id. */
export async function listSchedules(
  db: Queryable,
  query: { sessionId?: string; groupId?: string; groupIds?: string[]; cursor?: string; limit: number },
): Promise<ScheduleRow[]> {
  return db
    .select()
    .from(schedules)
    .where(
      and(
        query.sessionId !== undefined ? eq(schedules.sessionId, query.sessionId) : undefined,
        query.groupId !== undefined ? eq(schedules.groupId, query.groupId) : undefined,
        query.groupIds !== undefined ? inArray(schedules.groupId, query.groupIds) : undefined,
        query.cursor !== undefined ? gt(schedules.id, query.cursor) : undefined,
      ),
    )
    .orderBy(asc(schedules.id))
    .limit(query.limit);
}

/** Read-modify-write under the schedule's row lock; `change` may refuse by throwing. */
export async function updateSchedule(
  db: Queryable,
  sessionId: string,
  id: string,
  change: (row: ScheduleRow) => ScheduleChange,
): Promise<ScheduleRow> {
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(schedules)
      .where(and(eq(schedules.sessionId, sessionId), eq(schedules.id, id)))
      .for('update');
    if (!row) throw new NotFoundError('schedule', id);
    const [updated] = await tx
      .update(schedules)
      .set({ ...change(row), updatedAt: new Date() })
      .where(eq(schedules.id, id))
      .returning();
    return updated!;
  });
}

export async function deleteSchedule(db: Queryable, sessionId: string, id: string): Promise<void> {
  const rows = await db
    .delete(schedules)
    .where(and(eq(schedules.sessionId, sessionId), eq(schedules.id, id)))
    .returning({ id: schedules.id });
  if (rows.length === 0) throw new NotFoundError('schedule', id);
}

/** Active schedules whose next tick is due, oldest tick first. */
export async function dueSchedules(db: Queryable, now: Date, limit: number): Promise<ScheduleRow[]> {
  return db
    .select()
    .from(schedules)
    .where(and(eq(schedules.status, 'active'), lte(schedules.nextRunAt, now)))
    .orderBy(asc(schedules.nextRunAt))
    .limit(limit);
}

/** Carries a lost claim out of (and so rolls back) the firing transaction. */
class Lost extends Error {}

// Only the instance whose UPDATE still sees the planned tick moves it on; the others match no row.
const claimable = (id: string, planned: Date) =>
  and(eq(schedules.id, id), eq(schedules.status, 'active'), eq(schedules.nextRunAt, planned));

/**
 * Fires one tick exactly once across instances: the message (idempotency key from schedule and planned
 * time) and the claim of the tick commit together. The session row is locked first (by the enqueue), as
 * deleting a session does, so the two cannot deadlock. Undefined: another instance claimed the tick.
 */
export async function fireTick(
  db: Queryable,
  input: {
    schedule: ScheduleRow;
    /** The stored next tick (the claim's witness) and the tick being fired (later after a catch-up). */
    planned: Date;
    firing: Date;
    next: Date | null;
  },
): Promise<{ message: MessageRow; schedule: ScheduleRow } | undefined> {
  const { schedule, planned, firing, next } = input;
  try {
    return await db.transaction(async (tx) => {
      // The claim goes first: its row lock makes a concurrent firing of the same tick wait, then
      // find the tick moved on, so the message below is enqueued by the winner alone.
      const messageId = newId('msg');
      const [claimed] = await tx
        .update(schedules)
        .set({
          nextRunAt: next,
          status: next ? 'active' : 'completed',
          lastRunAt: firing,
          lastMessageId: messageId,
          runCount: sql`${schedules.runCount} + 1`,
          updatedAt: new Date(),
        })
        .where(claimable(schedule.id, planned))
        .returning();
      if (!claimed) throw new Lost();
      const { message } = await enqueueMessage(tx, {
        id: messageId,
        sessionId: schedule.sessionId,
        body: schedule.text,
        idempotencyKey: firingKey(schedule.id, firing),
      });
      return { message, schedule: claimed };
    });
  } catch (err) {
    if (err instanceof Lost) return undefined;
    throw err;
  }
}

/** Moves a tick on without a message (missed, or paused instead); undefined when another instance did. */
export async function skipTick(
  db: Queryable,
  input: { id: string; planned: Date; change: ScheduleChange },
): Promise<ScheduleRow | undefined> {
  const [row] = await db
    .update(schedules)
    .set({ ...input.change, updatedAt: new Date() })
    .where(claimable(input.id, input.planned))
    .returning();
  return row;
}

/** Statuses of a schedule's latest messages since `since`, newest first. */
export async function recentFirings(
  db: Queryable,
  input: { sessionId: string; scheduleId: string; since: Date; limit: number },
): Promise<MessageRow['status'][]> {
  const rows = await db
    .select({ status: messages.status })
    .from(messages)
    .where(
      and(
        eq(messages.sessionId, input.sessionId),
        sql`starts_with(${messages.idempotencyKey}, ${`schedule:${input.scheduleId}:`})`,
        gte(messages.createdAt, input.since),
      ),
    )
    .orderBy(desc(messages.seq))
    .limit(input.limit);
  return rows.map((r) => r.status);
}
