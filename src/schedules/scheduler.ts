import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import type { EventLog } from '../events/event-log.ts';
import type { Store } from '../store/db.ts';
import { dueSchedules, fireTick, recentFirings, skipTick } from '../store/schedules.ts';
import type { ScheduleRow } from '../store/schema.ts';
import { createSchedule, patchSchedule, type ScheduleInput, type SchedulePatch } from './manage.ts';
import { dueTicks } from './timing.ts';

/** Due schedules handled per pass; more wait for the next pass, so one pass stays short. */
const BATCH = 100;

export interface SchedulerDeps {
  config: Pick<
    Config,
    | 'schedulePollMs'
    | 'scheduleCatchUpMs'
    | 'scheduleMaxFailures'
    | 'scheduleMaxPerSession'
    | 'scheduleTimezone'
  >;
  store: Store;
  events: EventLog;
  /** The hand-off `POST …/messages` uses: deliver to the live run, or wake one. */
  messageQueued(sessionId: string): void;
  log: { warn(obj: object, msg: string): void };
}

/**
 * Fires scheduled messages. Every instance polls for due ticks; each tick is claimed in the database
 * together with its message, so it fires once however many instances share the database.
 */
export class Scheduler {
  readonly #deps: SchedulerDeps;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(deps: SchedulerDeps) {
    this.#deps = deps;
  }

  /** Starts polling; the first pass runs at once, so ticks missed while berth was down are handled now. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops polling and waits for the pass in progress. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  create(sessionId: string, input: ScheduleInput): Promise<ScheduleRow> {
    const { scheduleTimezone, scheduleMaxPerSession } = this.#deps.config;
    return createSchedule(this.#deps.store.db, sessionId, input, {
      defaultTimezone: scheduleTimezone,
      maxPerSession: scheduleMaxPerSession,
    });
  }

  update(sessionId: string, scheduleId: string, patch: SchedulePatch): Promise<ScheduleRow> {
    return patchSchedule(this.#deps.store.db, sessionId, scheduleId, patch);
  }

  /** One pass over the due ticks (at most BATCH); returns how many schedules were due. */
  async tick(now = new Date()): Promise<number> {
    const due = await dueSchedules(this.#deps.store.db, now, BATCH);
    for (const schedule of due) {
      if (this.#abort.signal.aborted) break;
      await this.#handle(schedule, now).catch((err) =>
        this.#deps.log.warn({ err, scheduleId: schedule.id }, 'schedule tick failed; retried next pass'),
      );
    }
    return due.length;
  }

  async #run(): Promise<void> {
    const { signal } = this.#abort;
    while (!signal.aborted) {
      await this.tick().catch((err) => this.#deps.log.warn({ err }, 'looking for due schedules failed'));
      // Rejects only when close() aborts the wait, which ends the loop.
      await sleep(this.#deps.config.schedulePollMs, undefined, { signal }).catch(() => undefined);
    }
  }

  async #handle(schedule: ScheduleRow, now: Date): Promise<void> {
    const { db } = this.#deps.store;
    const planned = schedule.nextRunAt!;
    const { sessionId, id: scheduleId } = schedule;
    if (await this.#failing(schedule)) {
      const change = { status: 'paused', pausedReason: 'failures', nextRunAt: null } as const;
      if (await skipTick(db, { id: scheduleId, planned, change })) {
        const failures = this.#deps.config.scheduleMaxFailures;
        await this.#event(sessionId, { type: 'schedule_paused', scheduleId, reason: 'failures', failures });
      }
      return;
    }
    const { latest, next } = dueTicks(schedule, planned, now);
    const { scheduleCatchUpMs, schedulePollMs } = this.#deps.config;
    // A tick is always allowed the lateness of a couple of passes, however small the catch-up window.
    const window = Math.max(scheduleCatchUpMs, 2 * schedulePollMs);
    if (now.getTime() - latest.getTime() > window) {
      const change = { nextRunAt: next, status: next ? 'active' : 'completed' } as const;
      if (await skipTick(db, { id: scheduleId, planned, change })) {
        await this.#missed(schedule, planned, next ?? now);
      }
      return;
    }
    const fired = await fireTick(db, { schedule, planned, firing: latest, next });
    if (!fired) return;
    if (latest > planned) await this.#missed(schedule, planned, latest);
    await this.#event(sessionId, {
      type: 'schedule_fired',
      scheduleId,
      messageId: fired.message.id,
      plannedAt: latest.toISOString(),
    });
    this.#deps.messageQueued(sessionId);
  }

  /** Whether the schedule's last N messages (since creation or resume) all failed. */
  async #failing(schedule: ScheduleRow): Promise<boolean> {
    const limit = this.#deps.config.scheduleMaxFailures;
    const statuses = await recentFirings(this.#deps.store.db, {
      sessionId: schedule.sessionId,
      scheduleId: schedule.id,
      since: schedule.failuresSince,
      limit,
    });
    return statuses.length === limit && statuses.every((s) => s === 'failed');
  }

  /** Every tick from `plannedAt` up to (not including) `before` was missed. */
  #missed(schedule: ScheduleRow, plannedAt: Date, before: Date): Promise<void> {
    return this.#event(schedule.sessionId, {
      type: 'schedule_missed',
      scheduleId: schedule.id,
      plannedAt: plannedAt.toISOString(),
      before: before.toISOString(),
    });
  }

  async #event(sessionId: string, data: Record<string, unknown>): Promise<void> {
    await this.#deps.events.append(sessionId, { kind: 'lifecycle', data });
  }
}
