import { AppError } from '../errors.ts';
import type { Queryable } from '../store/db.ts';
import {
  insertSchedule,
  type ScheduleChange,
  type ScheduleTrigger,
  updateSchedule,
} from '../store/schedules.ts';
import type { ScheduleRow } from '../store/schema.ts';
import { checkTimezone, firstRun, parseTrigger, type TriggerInput } from './timing.ts';

export interface ScheduleInput extends TriggerInput {
  text: string;
  timezone?: string | undefined;
}

export interface SchedulePatch extends TriggerInput {
  text?: string | undefined;
  timezone?: string | undefined;
  paused?: boolean | undefined;
}

export interface ManageOptions {
  defaultTimezone: string;
  maxPerSession: number;
}

/** Validates and stores a schedule; nothing is stored when any part is refused. */
export async function createSchedule(
  db: Queryable,
  sessionId: string,
  input: ScheduleInput,
  opts: ManageOptions,
  now = new Date(),
): Promise<ScheduleRow> {
  const trigger = parseTrigger(input, input.timezone ?? opts.defaultTimezone, now);
  return insertSchedule(
    db,
    { sessionId, text: input.text, ...trigger, nextRunAt: firstRun(trigger, now) },
    opts.maxPerSession,
  );
}

/** Pauses, resumes or edits a schedule under its row lock; a new trigger or a resume plans from now. */
export async function patchSchedule(
  db: Queryable,
  sessionId: string,
  scheduleId: string,
  patch: SchedulePatch,
  now = new Date(),
): Promise<ScheduleRow> {
  return updateSchedule(db, sessionId, scheduleId, (row) => planPatch(row, patch, now));
}

function planPatch(row: ScheduleRow, patch: SchedulePatch, now: Date): ScheduleChange {
  const retimed = patch.cron !== undefined || patch.everyMs !== undefined || patch.at !== undefined;
  const timezone = patch.timezone === undefined ? row.timezone : checkTimezone(patch.timezone);
  let trigger: ScheduleTrigger = { cron: row.cron, everyMs: row.everyMs, at: row.at, timezone };
  if (retimed) trigger = parseTrigger(patch, timezone, now);
  const change: ScheduleChange = { ...trigger, ...(patch.text !== undefined ? { text: patch.text } : {}) };

  const status = nextStatus(row, patch.paused, retimed);
  change.status = status;
  if (status === 'paused') {
    change.nextRunAt = null;
    if (row.status !== 'paused') change.pausedReason = 'requested';
  } else if (status === 'completed') {
    change.nextRunAt = null;
  } else if (row.status !== 'active' || retimed || (patch.timezone !== undefined && trigger.cron !== null)) {
    change.nextRunAt = firstRun(trigger, now);
    if (row.status !== 'active') {
      change.pausedReason = null;
      // Failures before a resume do not count towards pausing it again.
      change.failuresSince = now;
    }
  }
  return change;
}

function nextStatus(row: ScheduleRow, paused: boolean | undefined, retimed: boolean): ScheduleRow['status'] {
  // A one-off that has fired stays completed unless it is given a new time.
  if (row.status === 'completed' && !retimed) {
    if (paused === false)
      throw new AppError(
        'SCHEDULE_COMPLETED',
        `schedule ${row.id} has fired; give it a new time to re-arm it`,
      );
    return 'completed';
  }
  if (paused === true) return 'paused';
  if (paused === false) return 'active';
  return row.status === 'completed' ? 'active' : row.status;
}
