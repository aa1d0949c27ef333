import { Cron } from 'croner';
import { isTimeZone } from '../config.ts';
import { AppError, ValidationError } from '../errors.ts';
import type { ScheduleTrigger } from '../store/schedules.ts';

/** The shortest interval: a schedule firing faster than this is a load generator, not a reminder. */
export const MIN_INTERVAL_MS = 1000;

export interface TriggerInput {
  cron?: string | undefined;
  everyMs?: number | undefined;
  at?: string | undefined;
}

export function checkTimezone(name: string): string {
  if (!isTimeZone(name))
    throw new AppError('SCHEDULE_TIMEZONE_INVALID', `"${name}" is not an IANA time zone name`);
  return name;
}

/** Croner in strict 5-field mode; DST gaps and repeats behave as croner documents (Vixie cron's rules). */
function cronOf(expression: string, timezone: string): Cron {
  try {
    return new Cron(expression, { timezone, mode: '5-part', paused: true });
  } catch (err) {
    throw new AppError(
      'SCHEDULE_CRON_INVALID',
      `"${expression}" is not a 5-field cron expression: ${(err as Error).message}`,
    );
  }
}

/** Validates exactly one of cron, everyMs and at, and the time zone; `at` must lie after `now`. */
export function parseTrigger(input: TriggerInput, timezone: string, now: Date): ScheduleTrigger {
  const given = (['cron', 'everyMs', 'at'] as const).filter((k) => input[k] !== undefined);
  if (given.length !== 1)
    throw new AppError(
      'SCHEDULE_TRIGGER_INVALID',
      given.length === 0 ? 'give one of cron, everyMs or at' : `give only one of ${given.join(', ')}`,
    );
  checkTimezone(timezone);
  const trigger: ScheduleTrigger = { cron: null, everyMs: null, at: null, timezone };
  if (input.cron !== undefined) {
    if (!cronOf(input.cron, timezone).nextRun(now))
      throw new AppError('SCHEDULE_CRON_INVALID', `"${input.cron}" never fires`);
    trigger.cron = input.cron;
  } else if (input.everyMs !== undefined) {
    if (input.everyMs < MIN_INTERVAL_MS)
      throw new AppError(
        'SCHEDULE_INTERVAL_TOO_SHORT',
        `everyMs must be at least ${MIN_INTERVAL_MS}, got ${input.everyMs}`,
      );
    trigger.everyMs = input.everyMs;
  } else {
    trigger.at = new Date(input.at!);
    if (Number.isNaN(trigger.at.getTime())) throw new ValidationError(`at "${input.at}" is not a date-time`);
    checkFuture(trigger.at, now);
  }
  return trigger;
}

function checkFuture(at: Date, now: Date): void {
  if (at.getTime() <= now.getTime())
    throw new AppError('SCHEDULE_AT_PAST', `at ${at.toISOString()} is not after ${now.toISOString()}`);
}

/** The first tick after `now` of a new or resumed schedule. */
export function firstRun(trigger: ScheduleTrigger, now: Date): Date {
  if (trigger.everyMs !== null) return new Date(now.getTime() + trigger.everyMs);
  if (trigger.at !== null) {
    checkFuture(trigger.at, now);
    return trigger.at;
  }
  const next = cronOf(trigger.cron!, trigger.timezone).nextRun(now);
  if (!next) throw new AppError('SCHEDULE_CRON_INVALID', `"${trigger.cron}" never fires again`);
  return next;
}

/**
 * For a tick `planned` that is due at `now`: the latest tick not after `now` (the one worth firing; the
 * ones between were missed) and the first tick after `now` (null for a one-off).
 */
export function dueTicks(
  trigger: ScheduleTrigger,
  planned: Date,
  now: Date,
): { latest: Date; next: Date | null } {
  if (trigger.at !== null) return { latest: planned, next: null };
  if (trigger.everyMs !== null) {
    const steps = Math.floor((now.getTime() - planned.getTime()) / trigger.everyMs);
    const latest = new Date(planned.getTime() + Math.max(0, steps) * trigger.everyMs);
    return { latest, next: new Date(latest.getTime() + trigger.everyMs) };
  }
  const cron = cronOf(trigger.cron!, trigger.timezone);
  // previousRuns looks strictly before its reference: one millisecond on includes a tick at `now`.
  const [previous] = cron.previousRuns(1, new Date(now.getTime() + 1));
  const latest = previous && previous > planned ? previous : planned;
  return { latest, next: cron.nextRun(now) ?? null };
}
