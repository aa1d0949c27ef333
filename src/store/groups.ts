import { and, asc, eq, gt, inArray } from 'drizzle-orm';
import { AppError, NotFoundError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { newId } from './ids.ts';
import { type ContainerConfig, type GroupRow, groups } from './schema.ts';
import { isUniqueViolation } from './sql-errors.ts';

export interface NewGroup {
  name: string;
  folder: string;
  trust: 'admin' | 'member';
  containerConfig?: ContainerConfig;
}

export interface GroupPatch {
  name?: string;
  trust?: 'admin' | 'member';
  containerConfig?: ContainerConfig;
}

export async function createGroup(db: Queryable, input: NewGroup): Promise<GroupRow> {
  try {
    const [row] = await db
      .insert(groups)
      .values({ id: newId('grp'), ...input, containerConfig: input.containerConfig ?? {} })
      .returning();
    return row!;
  } catch (err) {
    if (isUniqueViolation(err)) throw new AppError('GROUP_FOLDER_TAKEN', `folder "${input.folder}" is taken`);
    throw err;
  }
}

export async function getGroup(db: Queryable, id: string): Promise<GroupRow> {
  const [row] = await db.select().from(groups).where(eq(groups.id, id));
  if (!row) throw new NotFoundError('group', id);
  return row;
}

export async function listGroups(
  db: Queryable,
  page: { after?: string; limit: number; ids?: string[] | undefined },
): Promise<GroupRow[]> {
  return db
    .select()
    .from(groups)
    .where(
      and(
        page.after ? gt(groups.id, page.after) : undefined,
        page.ids ? inArray(groups.id, page.ids) : undefined,
      ),
    )
    .orderBy(asc(groups.id))
    .limit(page.limit);
}

export async function updateGroup(db: Queryable, id: string, patch: GroupPatch): Promise<GroupRow> {
  const [row] = await db
    .update(groups)
    .set({ ...patch, updatedAt: new Date() })
    .where(eq(groups.id, id))
    .returning();
  if (!row) throw new NotFoundError('group', id);
  return row;
}

export async function deleteGroup(db: Queryable, id: string): Promise<void> {
  const deleted = await db.delete(groups).where(eq(groups.id, id)).returning({ id: groups.id });
  if (deleted.length === 0) throw new NotFoundError('group', id);
}
