import { and, asc, eq, gt, inArray, lt, sum } from 'drizzle-orm';
import { AppError } from '../errors.ts';
import type { Queryable } from './db.ts';
import { newId } from './ids.ts';
import { type FileRow, files } from './schema-files.ts';

export type { FileRow };
export type NewFile = Omit<FileRow, 'id' | 'createdAt'>;

export async function insertFile(db: Queryable, file: NewFile): Promise<FileRow> {
  const [row] = await db
    .insert(files)
    .values({ id: newId('fil'), ...file })
    .returning();
  return row!;
}

/** A delivered file of this session; another session's id is not found, as if it did not exist. */
export async function getFile(db: Queryable, sessionId: string, fileId: string): Promise<FileRow> {
  const [row] = await db
    .select()
    .from(files)
    .where(and(eq(files.id, fileId), eq(files.sessionId, sessionId)));
  if (!row) throw new AppError('FILE_NOT_FOUND', `file ${fileId} does not exist in session ${sessionId}`);
  return row;
}

/** A session's delivered files in id (creation) order, after the cursor. */
export function listFiles(
  db: Queryable,
  query: { sessionId: string; cursor?: string | undefined; limit: number },
): Promise<FileRow[]> {
  return db
    .select()
    .from(files)
    .where(
      and(
        eq(files.sessionId, query.sessionId),
        query.cursor !== undefined ? gt(files.id, query.cursor) : undefined,
      ),
    )
    .orderBy(asc(files.id))
    .limit(query.limit);
}

/** Bytes of delivered files the session holds (what its storage quota counts). */
export async function sessionFileBytes(db: Queryable, sessionId: string): Promise<number> {
  const [row] = await db
    .select({ total: sum(files.size) })
    .from(files)
    .where(eq(files.sessionId, sessionId));
  return Number(row?.total ?? 0);
}

/** The content hashes a session's files use (read before the session is deleted, to collect them). */
export async function sessionHashes(db: Queryable, sessionId: string): Promise<string[]> {
  const rows = await db
    .selectDistinct({ sha256: files.sha256 })
    .from(files)
    .where(eq(files.sessionId, sessionId));
  return rows.map((r) => r.sha256);
}

/** Deletes files delivered before `before`; returns the hashes they used. */
export async function deleteFilesBefore(db: Queryable, before: Date): Promise<string[]> {
  const rows = await db.delete(files).where(lt(files.createdAt, before)).returning({ sha256: files.sha256 });
  return [...new Set(rows.map((r) => r.sha256))];
}

/** Which of these hashes no file row refers to any more (their content may be removed). */
export async function unreferenced(db: Queryable, hashes: string[]): Promise<string[]> {
  if (hashes.length === 0) return [];
  const rows = await db
    .selectDistinct({ sha256: files.sha256 })
    .from(files)
    .where(inArray(files.sha256, hashes));
  const used = new Set(rows.map((r) => r.sha256));
  return hashes.filter((h) => !used.has(h));
}
