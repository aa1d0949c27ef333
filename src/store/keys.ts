import { and, asc, eq, gt, isNull, lt, or } from 'drizzle-orm';
import { NotFoundError } from '../errors.ts';
import type { Db, Queryable } from './db.ts';
import { newId } from './ids.ts';
import { type ApiKeyRow, type AuditRow, apiKeys, auditLog } from './schema.ts';

export type KeyRole = ApiKeyRow['role'];

export interface NewKey {
  id: string;
  name: string;
  role: KeyRole;
  groupIds: string[] | null;
  secretHash: string;
  expiresAt: Date | null;
  /** The acting key id, or `bootstrap`. */
  createdBy: string;
}

/** Stores a key and its audit row together: a key never exists without the record of who made it. */
export async function createKey(db: Db, input: NewKey): Promise<ApiKeyRow> {
  return db.transaction(async (tx) => {
    const [row] = await tx.insert(apiKeys).values(input).returning();
    await audit(tx, input.createdBy, 'key.create', input.id, {
      name: input.name,
      role: input.role,
      groupIds: input.groupIds,
      expiresAt: input.expiresAt?.toISOString() ?? null,
    });
    return row!;
  });
}

/** The key with this id, or undefined (authentication answers every miss the same way). */
export async function findKey(db: Queryable, id: string): Promise<ApiKeyRow | undefined> {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id));
  return row;
}

export async function listKeys(db: Queryable, page: { after?: string; limit: number }): Promise<ApiKeyRow[]> {
  return db
    .select()
    .from(apiKeys)
    .where(page.after ? gt(apiKeys.id, page.after) : undefined)
    .orderBy(asc(apiKeys.id))
    .limit(page.limit);
}

/** Revokes a key: the row goes, the audit row stays. */
export async function revokeKey(db: Db, id: string, actor: string): Promise<void> {
  await db.transaction(async (tx) => {
    const [gone] = await tx.delete(apiKeys).where(eq(apiKeys.id, id)).returning();
    if (!gone) throw new NotFoundError('key', id);
    await audit(tx, actor, 'key.revoke', id, { name: gone.name, role: gone.role });
  });
}

/** Records use at most once per `granularityMs`, so busy keys do not write on every request. */
export async function touchKey(db: Queryable, id: string, now: Date, granularityMs: number): Promise<void> {
  await db
    .update(apiKeys)
    .set({ lastUsedAt: now })
    .where(
      and(
        eq(apiKeys.id, id),
        or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, new Date(now.getTime() - granularityMs))),
      ),
    );
}

async function audit(
  db: Queryable,
  actor: string,
  action: AuditRow['action'],
  keyId: string,
  detail: Record<string, unknown>,
): Promise<void> {
  await db.insert(auditLog).values({ id: newId('aud'), actor, action, keyId, detail });
}

export async function listAudit(db: Queryable, page: { after?: string; limit: number }): Promise<AuditRow[]> {
  return db
    .select()
    .from(auditLog)
    .where(page.after ? gt(auditLog.id, page.after) : undefined)
    .orderBy(asc(auditLog.id))
    .limit(page.limit);
}
