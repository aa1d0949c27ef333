import { describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/db.ts';
import type { Message, Page, Schedule } from '../support/contract.ts';
import { dbKinds, freshDatabaseUrl, freshStore } from '../support/db.ts';
import { type RunningService, startService } from '../support/service.ts';
import { type ApiEvent, collectEvents, json, lifecycle, newSession, until } from '../support/sessions.ts';

// No container runtime ('container' is absent on Linux): fired messages are stored and stay pending.
const start = (env: Record<string, string>, store?: Store) =>
  startService({ BERTH_RUNTIME: 'container', BERTH_SCHEDULE_POLL_MS: '50', ...env }, store ? { store } : {});

const createSchedule = async (srv: RunningService, sessionId: string, body: Record<string, unknown>) =>
  json<Schedule>(await srv.api(`/v1/sessions/${sessionId}/schedules`, { method: 'POST', json: body }), 201);

const getSchedule = async (srv: RunningService, s: Schedule) =>
  json<Schedule>(await srv.api(`/v1/sessions/${s.sessionId}/schedules/${s.id}`), 200);

const messagesOf = async (srv: RunningService, sessionId: string) =>
  (await json<{ items: Message[] }>(await srv.api(`/v1/sessions/${sessionId}/messages?limit=500`), 200))
    .items;

describe.each(dbKinds())('a tick that fell due while berth was down (%s)', (kind) => {
  /** Creates a one-off due in 2 s, stops berth, waits until the tick is `lateMs` overdue, starts berth again. */
  async function downOverTick(catchUpMs: string, lateMs: number) {
    const env = {
      ...(kind === 'postgres' ? { DATABASE_URL: await freshDatabaseUrl() } : {}),
      BERTH_SCHEDULE_CATCH_UP_MS: catchUpMs,
    };
    // PGlite: the second process gets the database the first one leaves behind (as its data dir would).
    const store = kind === 'pglite' ? await freshStore('pglite') : undefined;
    const first = await start(env, store && { ...store, close: async () => {} });
    const { sessionId } = await newSession(first);
    const at = new Date(Date.now() + 2000);
    const schedule = await createSchedule(first, sessionId, { text: 'while down', at: at.toISOString() });
    await first.close();
    expect(Date.now(), 'berth stopped before the tick was due').toBeLessThan(at.getTime());
    await until(async () => (Date.now() > at.getTime() + lateMs ? true : undefined), 10_000);
    return { srv: await start(env, store), schedule, sessionId };
  }

  it('fires it once on start when it is inside the catch-up window', async () => {
    const { srv, schedule, sessionId } = await downOverTick('60000', 300);
    try {
      const done = await until(async () => {
        const s = await getSchedule(srv, schedule);
        return s.status === 'completed' ? s : undefined;
      });
      expect(done).toMatchObject({ runCount: 1, lastRunAt: schedule.at });
      const messages = await messagesOf(srv, sessionId);
      expect(messages.map((m) => [m.text, m.idempotencyKey])).toEqual([
        ['while down', `schedule:${schedule.id}:${schedule.at}`],
      ]);
      const events = await collectEvents(srv, sessionId, (e) => lifecycle(e, 'schedule_fired').length > 0);
      expect(lifecycle(events, 'schedule_missed')).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('records it as missed when it is beyond the window', async () => {
    const { srv, schedule, sessionId } = await downOverTick('0', 1500);
    try {
      const done = await until(async () => {
        const s = await getSchedule(srv, schedule);
        return s.status === 'completed' ? s : undefined;
      });
      expect(done).toMatchObject({ runCount: 0, lastRunAt: null, nextRunAt: null });
      expect(await messagesOf(srv, sessionId)).toEqual([]);
      const events = await collectEvents(srv, sessionId, (e) => lifecycle(e, 'schedule_missed').length > 0);
      expect(lifecycle(events, 'schedule_missed')[0]!.data).toMatchObject({
        scheduleId: schedule.id,
        plannedAt: schedule.at,
      });
    } finally {
      await srv.close();
    }
  });
});

describe.runIf(dbKinds().includes('postgres'))('schedules on two instances sharing PostgreSQL', () => {
  it('fires every planned time exactly once', async () => {
    const env = { DATABASE_URL: await freshDatabaseUrl(), BERTH_SCHEDULE_POLL_MS: '50' };
    const a = await start(env);
    const b = await start(env);
    try {
      const sessions = [(await newSession(a)).sessionId, (await newSession(b)).sessionId];
      const created: Schedule[] = [];
      for (let i = 0; i < 10; i++) {
        const [srv, sessionId] = i % 2 ? [a, sessions[0]!] : [b, sessions[1]!];
        created.push(await createSchedule(srv, sessionId, { text: `s${i}`, everyMs: 1000 }));
      }
      await until(async () => {
        const page = await json<Page<Schedule>>(await a.api('/v1/schedules?limit=500'), 200);
        return page.items.every((s) => s.runCount >= 4) ? true : undefined;
      }, 30_000);
      // Both instances stop firing before the tally, so counts and messages are read at rest.
      await a.parts.schedules.close();
      await b.parts.schedules.close();

      const messages = [...(await messagesOf(a, sessions[0]!)), ...(await messagesOf(a, sessions[1]!))];
      const events: ApiEvent[] = [];
      for (const sessionId of sessions) {
        const total = messages.filter((m) => m.sessionId === sessionId).length;
        const fired = (e: ApiEvent[]) => lifecycle(e, 'schedule_fired').length >= total;
        events.push(...(await collectEvents(b, sessionId, fired)));
      }
      for (const s of created) {
        const { runCount } = await getSchedule(a, s);
        const planned = messages
          .filter((m) => m.idempotencyKey?.startsWith(`schedule:${s.id}:`))
          .map((m) => Date.parse(m.idempotencyKey!.slice(`schedule:${s.id}:`.length)))
          .sort((x, y) => x - y);
        // One message per tick fired, each on the schedule's grid and none twice (a pass stalled by load may skip one).
        const first = Date.parse(s.nextRunAt!);
        expect(planned).toHaveLength(runCount);
        expect(new Set(planned).size).toBe(runCount);
        expect(planned.every((t) => (t - first) % 1000 === 0 && t >= first)).toBe(true);
        const firedFor = lifecycle(events, 'schedule_fired').filter((e) => e.data.scheduleId === s.id);
        expect(firedFor).toHaveLength(runCount);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });
});
