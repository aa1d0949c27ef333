import { and, eq, isNull } from 'drizzle-orm';
import type { Queryable } from './db.ts';
import { runs } from './schema.ts';
import type { ExitReason } from './sessions.ts';

export async function recordRunStart(
  db: Queryable,
  input: { sessionId: string; generation: number; containerName: string; image: string; instanceId: string },
): Promise<void> {
  await db.insert(runs).values(input).onConflictDoNothing();
}

/** Closes a run once; a second report of the same end (reconciler and runner racing) is a no-op. */
export async function recordRunEnd(
  db: Queryable,
  input: {
    sessionId: string;
    generation: number;
    exitCode: number | null;
    reason: ExitReason;
    stdoutBytes: number;
    stderrBytes: number;
  },
): Promise<boolean> {
  const rows = await db
    .update(runs)
    .set({
      endedAt: new Date(),
      exitCode: input.exitCode,
      reason: input.reason,
      stdoutBytes: input.stdoutBytes,
      stderrBytes: input.stderrBytes,
    })
    .where(
      and(eq(runs.sessionId, input.sessionId), eq(runs.generation, input.generation), isNull(runs.endedAt)),
    )
    .returning({ id: runs.id });
  return rows.length > 0;
}
