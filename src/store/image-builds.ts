import { and, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import { AppError, NotFoundError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { newId } from './ids.ts';
import { groups, type ImageBuildRow, type ImagePackages, imageBuilds } from './schema.ts';
import { isUniqueViolation } from './sql-errors.ts';

const ACTIVE = ['queued', 'running'] as const;

export interface NewImageBuild {
  groupId: string;
  tag: string;
  packages: ImagePackages;
  ownerInstance: string;
}

/** A queued build; the partial unique index turns a second active build for the group into a 409. */
export async function createImageBuild(db: Queryable, input: NewImageBuild): Promise<ImageBuildRow> {
  try {
    const [row] = await db
      .insert(imageBuilds)
      .values({ id: newId('bld'), ...input })
      .returning();
    return row!;
  } catch (err) {
    if (isUniqueViolation(err))
      throw new AppError(
        'IMAGE_BUILD_IN_PROGRESS',
        `group ${input.groupId} already has an image build queued or running; wait for it or cancel it`,
      );
    throw err;
  }
}

/** A build that finished at once because an identical image already exists. */
export async function recordReusedBuild(db: Queryable, input: NewImageBuild): Promise<ImageBuildRow> {
  const now = new Date();
  const [row] = await db
    .insert(imageBuilds)
    .values({
      id: newId('bld'),
      ...input,
      status: 'succeeded',
      reused: true,
      startedAt: now,
      finishedAt: now,
    })
    .returning();
  return row!;
}

export async function getImageBuild(db: Queryable, groupId: string, id: string): Promise<ImageBuildRow> {
  const [row] = await db
    .select()
    .from(imageBuilds)
    .where(and(eq(imageBuilds.id, id), eq(imageBuilds.groupId, groupId)));
  if (!row) throw new NotFoundError('image build', id);
  return row;
}

/** A group's builds, newest first (ids sort by creation); `before` is the last id of the previous page. */
export async function listImageBuilds(
  db: Queryable,
  groupId: string,
  page: { before?: string | undefined; limit: number },
): Promise<ImageBuildRow[]> {
  return db
    .select()
    .from(imageBuilds)
    .where(and(eq(imageBuilds.groupId, groupId), page.before ? lt(imageBuilds.id, page.before) : undefined))
    .orderBy(desc(imageBuilds.id))
    .limit(page.limit);
}

export async function markBuildRunning(db: Queryable, id: string): Promise<void> {
  await db
    .update(imageBuilds)
    .set({ status: 'running', startedAt: new Date() })
    .where(and(eq(imageBuilds.id, id), eq(imageBuilds.status, 'queued')));
}

export async function saveBuildOutput(db: Queryable, id: string, outputTail: string): Promise<void> {
  await db.update(imageBuilds).set({ outputTail }).where(eq(imageBuilds.id, id));
}

/** Ends an active build; false when it had already ended (e.g. cancelled by another instance). */
export async function finishImageBuild(
  db: Queryable,
  id: string,
  end: { status: 'succeeded' | 'failed' | 'cancelled'; error?: string; outputTail?: string },
): Promise<boolean> {
  const ended = await db
    .update(imageBuilds)
    .set({
      status: end.status,
      error: end.error ?? null,
      ...(end.outputTail !== undefined ? { outputTail: end.outputTail } : {}),
      finishedAt: new Date(),
    })
    .where(and(eq(imageBuilds.id, id), inArray(imageBuilds.status, [...ACTIVE])))
    .returning({ id: imageBuilds.id });
  return ended.length > 0;
}

/** Builds a dead process left active: they will never finish, and they block the group's next build. */
export async function failOrphanedBuilds(
  db: Queryable,
  isDeadOwner: (instanceId: string) => boolean,
): Promise<number> {
  const active = await db
    .select({ id: imageBuilds.id, ownerInstance: imageBuilds.ownerInstance })
    .from(imageBuilds)
    .where(inArray(imageBuilds.status, [...ACTIVE]));
  const dead = active.filter((b) => isDeadOwner(b.ownerInstance)).map((b) => b.id);
  if (dead.length === 0) return 0;
  await db
    .update(imageBuilds)
    .set({ status: 'failed', error: 'interrupted by restart', finishedAt: sql`now()` })
    .where(and(inArray(imageBuilds.id, dead), inArray(imageBuilds.status, [...ACTIVE])));
  return dead.length;
}

/** Points the group at an image (or back at the base when undefined) without touching its other settings. */
export async function setGroupImage(db: Queryable, groupId: string, tag: string | undefined): Promise<void> {
  const config =
    tag === undefined
      ? sql`${groups.containerConfig} - 'image'`
      : sql`${groups.containerConfig} || ${JSON.stringify({ image: tag })}::jsonb`;
  const updated = await db
    .update(groups)
    .set({ containerConfig: config, updatedAt: new Date() })
    .where(eq(groups.id, groupId))
    .returning({ id: groups.id });
  if (updated.length === 0) throw new NotFoundError('group', groupId);
}
