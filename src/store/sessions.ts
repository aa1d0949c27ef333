import { and, asc, count, eq, getTableColumns, gt, inArray, sql } from 'drizzle-orm';
import { AppError, NotFoundError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { newId } from './ids.ts';
import { messages, type SessionRow, sessions } from './schema.ts';
import { isForeignKeyViolation, isUniqueViolation } from './sql-errors.ts';

export type ExitReason = NonNullable<SessionRow['lastExitReason']>;

export async function createSession(
  db: Queryable,
  input: { groupId: string; externalKey?: string | undefined },
): Promise<SessionRow> {
  try {
    const [row] = await db
      .insert(sessions)
      .values({ id: newId('ses'), groupId: input.groupId, externalKey: input.externalKey ?? null })
      .returning();
    return row!;
  } catch (err) {
    if (isUniqueViolation(err))
      throw new AppError(
        'SESSION_EXTERNAL_KEY_TAKEN',
        `external key "${input.externalKey}" already has a session`,
      );
    if (isForeignKeyViolation(err)) throw new NotFoundError('group', input.groupId);
    throw err;
  }
}

/** Get-or-create by external key; `created` tells which happened. Safe under concurrent callers. */
export async function ensureSession(
  db: Queryable,
  input: { groupId: string; externalKey: string },
): Promise<{ session: SessionRow; created: boolean }> {
  try {
    const [row] = await db
      .insert(sessions)
      .values({ id: newId('ses'), groupId: input.groupId, externalKey: input.externalKey })
      .onConflictDoNothing({ target: [sessions.groupId, sessions.externalKey] })
      .returning();
    if (row) return { session: row, created: true };
  } catch (err) {
    if (isForeignKeyViolation(err)) throw new NotFoundError('group', input.groupId);
    throw err;
  }
  const [existing] = await db
    .select()
    .from(sessions)
    .where(and(eq(sessions.groupId, input.groupId), eq(sessions.externalKey, input.externalKey)));
  return { session: existing!, created: false };
}

export async function getSession(db: Queryable, id: string): Promise<SessionRow> {
  const [row] = await db.select().from(sessions).where(eq(sessions.id, id));
  if (!row) throw new NotFoundError('session', id);
  return row;
}

/** The group a session belongs to, or undefined when there is no such session. */
export async function findSessionGroup(db: Queryable, id: string): Promise<string | undefined> {
  const [row] = await db.select({ groupId: sessions.groupId }).from(sessions).where(eq(sessions.id, id));
  return row?.groupId;
}

export async function listSessions(
  db: Queryable,
  page: { after?: string; limit: number; groupId?: string; groupIds?: string[] | undefined },
): Promise<SessionRow[]> {
  return db
    .select()
    .from(sessions)
    .where(
      and(
        page.after ? gt(sessions.id, page.after) : undefined,
        page.groupId ? eq(sessions.groupId, page.groupId) : undefined,
        page.groupIds ? inArray(sessions.groupId, page.groupIds) : undefined,
      ),
    )
    .orderBy(asc(sessions.id))
    .limit(page.limit);
}

export async function deleteSession(db: Queryable, id: string): Promise<void> {
  const deleted = await db.delete(sessions).where(eq(sessions.id, id)).returning({ id: sessions.id });
  if (deleted.length === 0) throw new NotFoundError('session', id);
}

/** Whether the row's lease is unexpired, by the database's clock (instances' clocks may disagree). */
const leaseValid = sql<boolean>`coalesce(${sessions.leaseExpiresAt} > now(), false)`.mapWith(Boolean);

/** A session row with its lease judged by the database. */
export type LeasedSession = SessionRow & { leaseValid: boolean };

export type WakeClaim = { claimed: true; session: SessionRow } | { claimed: false; session: SessionRow };

/**
 * The cross-instance half of "exactly one container": under the session's row lock, either an
 * unexpired owner already holds a live run (join it) or this instance takes a new generation.
 */
export async function claimWake(
  db: Queryable,
  input: { sessionId: string; instanceId: string; leaseMs: number; containerPrefix: string },
): Promise<WakeClaim> {
  return db.transaction(async (tx) => {
    const [found] = await tx
      .select({ ...getTableColumns(sessions), leaseValid })
      .from(sessions)
      .where(eq(sessions.id, input.sessionId))
      .for('update');
    if (!found) throw new NotFoundError('session', input.sessionId);
    const { leaseValid: valid, ...row } = found;
    const live = row.status === 'starting' || row.status === 'running' || row.status === 'stopping';
    if (live && valid) return { claimed: false, session: row };
    const generation = row.generation + 1;
    const [updated] = await tx
      .update(sessions)
      .set({
        status: 'starting',
        generation,
        containerName: `${input.containerPrefix}-${row.id}-${generation}`,
        ownerInstance: input.instanceId,
        leaseExpiresAt: sql`now() + ${`${input.leaseMs} milliseconds`}::interval`,
        lastActivityAt: new Date(),
        updatedAt: new Date(),
      })
      .where(eq(sessions.id, input.sessionId))
      .returning();
    return { claimed: true, session: updated! };
  });
}

/** Updates the live run's state only while this instance still owns that generation. */
export async function updateRun(
  db: Queryable,
  key: { sessionId: string; generation: number; instanceId: string },
  patch: Partial<Pick<SessionRow, 'status' | 'lastActivityAt' | 'lastExitCode' | 'lastExitReason'>> & {
    leaseMs?: number;
    clearOwner?: boolean;
  },
): Promise<boolean> {
  const { leaseMs, clearOwner, ...fields } = patch;
  const rows = await db
    .update(sessions)
    .set({
      ...fields,
      ...(leaseMs !== undefined
        ? { leaseExpiresAt: sql`now() + ${`${leaseMs} milliseconds`}::interval` }
        : {}),
      ...(clearOwner ? { ownerInstance: null, leaseExpiresAt: null } : {}),
      updatedAt: new Date(),
    })
    .where(
      and(
        eq(sessions.id, key.sessionId),
        eq(sessions.generation, key.generation),
        eq(sessions.ownerInstance, key.instanceId),
      ),
    )
    .returning({ id: sessions.id });
  return rows.length > 0;
}

/** Adds proxy traffic to the session's totals; returns its group (undefined once the session is gone). */
export async function addProxyUsage(
  db: Queryable,
  sessionId: string,
  delta: { requests: number; bytesIn: number; bytesOut: number },
): Promise<string | undefined> {
  const [row] = await db
    .update(sessions)
    .set({
      proxyRequests: sql`${sessions.proxyRequests} + ${delta.requests}`,
      proxyBytesIn: sql`${sessions.proxyBytesIn} + ${delta.bytesIn}`,
      proxyBytesOut: sql`${sessions.proxyBytesOut} + ${delta.bytesOut}`,
    })
    .where(eq(sessions.id, sessionId))
    .returning({ groupId: sessions.groupId });
  return row?.groupId;
}

/** Adds one agent turn's usage (tokens, the SDK's cost estimate) to the session's totals. */
export async function addAgentUsage(
  db: Queryable,
  sessionId: string,
  u: {
    inputTokens: number;
    outputTokens: number;
    cacheReadTokens: number;
    cacheCreationTokens: number;
    costUsd: number;
  },
): Promise<void> {
  await db
    .update(sessions)
    .set({
      agentInputTokens: sql`${sessions.agentInputTokens} + ${u.inputTokens}`,
      agentOutputTokens: sql`${sessions.agentOutputTokens} + ${u.outputTokens}`,
      agentCacheReadTokens: sql`${sessions.agentCacheReadTokens} + ${u.cacheReadTokens}`,
      agentCacheCreationTokens: sql`${sessions.agentCacheCreationTokens} + ${u.cacheCreationTokens}`,
      agentCostUsd: sql`${sessions.agentCostUsd} + ${u.costUsd}`,
      agentTurns: sql`${sessions.agentTurns} + 1`,
    })
    .where(eq(sessions.id, sessionId));
}

/** Sessions whose run looks live, for the reconciler. */
export async function liveSessions(db: Queryable): Promise<LeasedSession[]> {
  return db
    .select({ ...getTableColumns(sessions), leaseValid })
    .from(sessions)
    .where(sql`${sessions.status} in ('starting', 'running', 'stopping')`)
    .orderBy(asc(sessions.id));
}

export async function sessionIdsOfGroup(db: Queryable, groupId: string): Promise<string[]> {
  const rows = await db.select({ id: sessions.id }).from(sessions).where(eq(sessions.groupId, groupId));
  return rows.map((r) => r.id);
}

/**
 * Idle sessions that still have pending messages: after a restart all of them resume; on the
 * periodic pass, those a user stopped (or that cannot start) wait for an explicit wake.
 */
export async function sessionsToResume(db: Queryable, opts: { afterRestart: boolean }): Promise<string[]> {
  const rows = await db
    .select({ id: sessions.id })
    .from(sessions)
    .where(
      and(
        eq(sessions.status, 'idle'),
        opts.afterRestart
          ? undefined
          : sql`coalesce(${sessions.lastExitReason}, 'exited') not in ('aborted', 'spawn_error', 'quota')`,
        sql`exists (select 1 from ${messages} m where m.session_id = ${sessions.id} and m.status = 'pending')`,
      ),
    );
  return rows.map((r) => r.id);
}

/** Whether another instance's run has outlived its lease (its owner is presumably dead). */
export async function hasExpiredLease(db: Queryable, instanceId: string): Promise<boolean> {
  const rows = await db
    .select({ id: sessions.id })
    .from(sessions)
    .where(
      and(
        sql`${sessions.status} in ('starting', 'running', 'stopping')`,
        sql`${sessions.ownerInstance} is distinct from ${instanceId}`,
        sql`coalesce(${sessions.leaseExpiresAt}, '-infinity'::timestamptz) < now()`,
      ),
    )
    .limit(1);
  return rows.length > 0;
}

/** Sessions per status across the database: one grouped count, for metrics scrapes. */
export async function countSessionsByStatus(db: Queryable): Promise<Record<string, number>> {
  const rows = await db
    .select({ status: sessions.status, n: count() })
    .from(sessions)
    .groupBy(sessions.status);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}
