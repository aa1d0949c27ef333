import { and, eq, sql } from 'drizzle-orm';
import type { Queryable } from './db.ts';
import { type ContainerConfig, groups, modelUsageDays, sessions } from './schema.ts';

export interface UsageDelta {
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
  costMicroUsd: number;
}

/** A session's group and its model rules, read before each gated model call. */
export async function modelRulesOf(
  db: Queryable,
  sessionId: string,
): Promise<{ groupId: string; rules: ContainerConfig['models'] } | undefined> {
  const [row] = await db
    .select({ groupId: groups.id, containerConfig: groups.containerConfig })
    .from(sessions)
    .innerJoin(groups, eq(groups.id, sessions.groupId))
    .where(eq(sessions.id, sessionId));
  return row ? { groupId: row.groupId, rules: row.containerConfig.models } : undefined;
}

/** Tokens of every kind the group used on a UTC day (`YYYY-MM-DD`). */
export async function groupTokensOn(db: Queryable, groupId: string, day: string): Promise<number> {
  const [row] = await db
    .select({ tokens: modelUsageDays.tokens })
    .from(modelUsageDays)
    .where(and(eq(modelUsageDays.groupId, groupId), eq(modelUsageDays.day, day)));
  return row?.tokens ?? 0;
}

/** Adds one model response to its session, its group and the group's day, in one transaction. */
export async function addModelUsage(
  db: Queryable,
  sessionId: string,
  day: string,
  d: UsageDelta,
): Promise<{ groupId: string } | undefined> {
  const add = (table: typeof sessions | typeof groups) => ({
    modelRequests: sql`${table.modelRequests} + 1`,
    inputTokens: sql`${table.inputTokens} + ${d.inputTokens}`,
    outputTokens: sql`${table.outputTokens} + ${d.outputTokens}`,
    cacheCreationTokens: sql`${table.cacheCreationTokens} + ${d.cacheCreationTokens}`,
    cacheReadTokens: sql`${table.cacheReadTokens} + ${d.cacheReadTokens}`,
    costMicroUsd: sql`${table.costMicroUsd} + ${d.costMicroUsd}`,
  });
  const tokens = d.inputTokens + d.outputTokens + d.cacheCreationTokens + d.cacheReadTokens;
  return db.transaction(async (tx) => {
    const [session] = await tx
      .update(sessions)
      .set(add(sessions))
      .where(eq(sessions.id, sessionId))
      .returning({ groupId: sessions.groupId });
    // The session was deleted while its response streamed: nothing left to charge.
    if (!session) return undefined;
    await tx.update(groups).set(add(groups)).where(eq(groups.id, session.groupId));
    await tx
      .insert(modelUsageDays)
      .values({ groupId: session.groupId, day, tokens, requests: 1, costMicroUsd: d.costMicroUsd })
      .onConflictDoUpdate({
        target: [modelUsageDays.groupId, modelUsageDays.day],
        set: {
          tokens: sql`${modelUsageDays.tokens} + ${tokens}`,
          requests: sql`${modelUsageDays.requests} + 1`,
          costMicroUsd: sql`${modelUsageDays.costMicroUsd} + ${d.costMicroUsd}`,
        },
      });
    return { groupId: session.groupId };
  });
}
