import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, type Message, type Page, type Problem, type Schedule } from '../support/contract.ts';
import { dbKinds } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { collectEvents, lifecycle, newSession, until } from '../support/sessions.ts';

const HOUR = 3_600_000;
const localTime = (iso: string, timeZone: string) =>
  new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', minute: '2-digit', weekday: 'short' }).format(
    new Date(iso),
  );

// No container runtime here ('container' is absent on Linux): fired messages are stored and stay pending.
describe.each(dbKinds())('schedules over HTTP (%s)', (kind) => {
  let srv: TestServer;

  beforeAll(async () => {
    srv = await startTestServer(kind, {
      BERTH_RUNTIME: 'container',
      BERTH_SCHEDULE_TIMEZONE: 'Europe/Berlin',
      BERTH_SCHEDULE_MAX_PER_SESSION: '3',
      BERTH_SCHEDULE_POLL_MS: '100',
      BERTH_SCHEDULE_CATCH_UP_MS: '600000',
    });
  });
  afterAll(async () => {
    await srv?.close();
  });

  const create = (sessionId: string, json: Record<string, unknown>) =>
    call<Schedule & { code?: string }>(srv, 'POST', `/v1/sessions/${sessionId}/schedules`, { json });
  const patch = (s: Schedule, json: Record<string, unknown>) =>
    call<Schedule & { code?: string }>(srv, 'PATCH', `/v1/sessions/${s.sessionId}/schedules/${s.id}`, {
      json,
    });
  const get = async (s: Schedule) =>
    (await call<Schedule>(srv, 'GET', `/v1/sessions/${s.sessionId}/schedules/${s.id}`)).body;
  const listOf = async (sessionId: string) =>
    (await call<Page<Schedule>>(srv, 'GET', `/v1/sessions/${sessionId}/schedules`)).body.items;
  const messagesOf = async (sessionId: string) =>
    (await call<{ items: Message[] }>(srv, 'GET', `/v1/sessions/${sessionId}/messages?limit=500`)).body.items;

  it('creates a daily cron schedule in the default time zone and reads it back', async () => {
    const { sessionId } = await newSession(srv);
    const { res, body } = await create(sessionId, { text: 'good morning', cron: '0 9 * * *' });
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(`/v1/sessions/${sessionId}/schedules/${body.id}`);
    expect(body).toMatchObject({
      sessionId,
      text: 'good morning',
      cron: '0 9 * * *',
      everyMs: null,
      at: null,
      timezone: 'Europe/Berlin',
      status: 'active',
      pausedReason: null,
      lastRunAt: null,
      runCount: 0,
    });
    const next = new Date(body.nextRunAt!).getTime();
    expect(next).toBeGreaterThan(Date.now());
    expect(next).toBeLessThanOrEqual(Date.now() + 25 * HOUR);
    expect(localTime(body.nextRunAt!, 'Europe/Berlin')).toMatch(/ 09:00$/);
    expect(await get(body)).toEqual(body);
    expect(await listOf(sessionId)).toEqual([body]);
  });

  it('refuses bad input with a stable code and stores nothing', async () => {
    const { sessionId } = await newSession(srv);
    const past = new Date(Date.now() - 60_000).toISOString();
    const table: Array<[Record<string, unknown>, string]> = [
      [{ cron: 'every day' }, 'SCHEDULE_CRON_INVALID'],
      [{ cron: '61 * * * *' }, 'SCHEDULE_CRON_INVALID'],
      [{ cron: '0 0 9 * * *' }, 'SCHEDULE_CRON_INVALID'],
      [{ cron: '0 0 30 2 *' }, 'SCHEDULE_CRON_INVALID'],
      [{ everyMs: 999 }, 'SCHEDULE_INTERVAL_TOO_SHORT'],
      [{ everyMs: -5 }, 'SCHEDULE_INTERVAL_TOO_SHORT'],
      [{ at: past }, 'SCHEDULE_AT_PAST'],
      [{ cron: '0 9 * * *', timezone: 'Mars/Olympus_Mons' }, 'SCHEDULE_TIMEZONE_INVALID'],
      [{ everyMs: 5000, timezone: 'CEST+2' }, 'SCHEDULE_TIMEZONE_INVALID'],
      [{}, 'SCHEDULE_TRIGGER_INVALID'],
      [{ cron: '0 9 * * *', everyMs: 5000 }, 'SCHEDULE_TRIGGER_INVALID'],
      [{ everyMs: 1500.5 }, 'VALIDATION_FAILED'],
      [{ at: 'tomorrow at nine' }, 'VALIDATION_FAILED'],
      [{ everyMs: 5000, attachments: [] }, 'VALIDATION_FAILED'],
      [{ everyMs: 5000, text: '' }, 'VALIDATION_FAILED'],
    ];
    for (const [input, code] of table) {
      const { res, body } = await create(sessionId, { text: 'x', ...input });
      expect([res.status, body.code], JSON.stringify(input)).toEqual([400, code]);
    }
    expect(await listOf(sessionId)).toEqual([]);
    const unknown = await create('ses_000000000000000000000', { text: 'x', everyMs: 5000 });
    expect([unknown.res.status, unknown.body.code]).toEqual([404, 'SESSION_NOT_FOUND']);
  });

  it('limits the schedules of one session', async () => {
    const { sessionId } = await newSession(srv);
    const made = await Promise.all([1, 2, 3, 4].map(() => create(sessionId, { text: 'x', everyMs: HOUR })));
    const statuses = made.map((m) => m.res.status).sort();
    expect(statuses).toEqual([201, 201, 201, 400]);
    expect(made.find((m) => m.res.status === 400)!.body.code).toBe('SCHEDULE_LIMIT_REACHED');
    expect(await listOf(sessionId)).toHaveLength(3);
    const other = await newSession(srv);
    expect((await create(other.sessionId, { text: 'x', everyMs: HOUR })).res.status).toBe(201);
  });

  it('pauses, resumes and edits', async () => {
    const { sessionId } = await newSession(srv);
    const s = (await create(sessionId, { text: 'tick', everyMs: HOUR })).body;
    const paused = await patch(s, { paused: true });
    expect(paused.body).toMatchObject({ status: 'paused', pausedReason: 'requested', nextRunAt: null });
    const resumed = await patch(s, { paused: false });
    expect(resumed.body).toMatchObject({ status: 'active', pausedReason: null });
    expect(new Date(resumed.body.nextRunAt!).getTime()).toBeGreaterThan(new Date(s.nextRunAt!).getTime() - 1);
    const edited = await patch(s, { cron: '30 7 * * 1', timezone: 'America/New_York', text: 'weekly' });
    expect(edited.body).toMatchObject({
      cron: '30 7 * * 1',
      everyMs: null,
      text: 'weekly',
      status: 'active',
    });
    expect(localTime(edited.body.nextRunAt!, 'America/New_York')).toBe('Mon 07:30');
    const refused = await patch(s, { cron: 'nope' });
    expect([refused.res.status, refused.body.code]).toEqual([400, 'SCHEDULE_CRON_INVALID']);
    const twice = await patch(s, { cron: '0 8 * * *', at: new Date(Date.now() + HOUR).toISOString() });
    expect([twice.res.status, twice.body.code]).toEqual([400, 'SCHEDULE_TRIGGER_INVALID']);
    expect(await get(s)).toEqual(edited.body);
  });

  it("lists schedules across a group's sessions", async () => {
    const a = await newSession(srv);
    const b = await newSession(srv);
    const inA = (await create(a.sessionId, { text: 'a', everyMs: HOUR })).body;
    const inB = (await create(b.sessionId, { text: 'b', everyMs: HOUR })).body;
    const page = await call<Page<Schedule>>(srv, 'GET', `/v1/schedules?groupId=${a.groupId}`);
    expect(page.body).toEqual({ items: [inA], nextCursor: null });
    const all = await call<Page<Schedule>>(srv, 'GET', '/v1/schedules?limit=500');
    expect(all.body.items.map((s) => s.id)).toEqual(expect.arrayContaining([inA.id, inB.id]));
  });

  it("deletes a schedule, and a deleted session's schedules go with it", async () => {
    const { sessionId, groupId } = await newSession(srv);
    const one = (await create(sessionId, { text: 'a', everyMs: HOUR })).body;
    await create(sessionId, { text: 'b', cron: '0 9 * * *' });
    const gone = await call(srv, 'DELETE', `/v1/sessions/${sessionId}/schedules/${one.id}`);
    expect(gone.res.status).toBe(204);
    const again = await call<Problem>(srv, 'GET', `/v1/sessions/${sessionId}/schedules/${one.id}`);
    expect([again.res.status, again.body.code]).toEqual([404, 'SCHEDULE_NOT_FOUND']);
    expect(await listOf(sessionId)).toHaveLength(1);
    expect((await call(srv, 'DELETE', `/v1/sessions/${sessionId}`)).res.status).toBe(204);
    const page = await call<Page<Schedule>>(srv, 'GET', `/v1/schedules?groupId=${groupId}`);
    expect(page.body.items).toEqual([]);
  });

  it('fires a one-off once as an ordinary message, then re-arms it only with a new time', async () => {
    const { sessionId } = await newSession(srv);
    const at = new Date(Date.now() + 500).toISOString();
    const s = (await create(sessionId, { text: 'once', at })).body;
    const done = await until(async () => {
      const now = await get(s);
      return now.status === 'completed' ? now : undefined;
    });
    expect(done).toMatchObject({ runCount: 1, lastRunAt: at, nextRunAt: null });
    const messages = await messagesOf(sessionId);
    expect(messages.map((m) => [m.id, m.text, m.idempotencyKey])).toEqual([
      [done.lastMessageId, 'once', `schedule:${s.id}:${at}`],
    ]);
    const events = await collectEvents(srv, sessionId, (e) => lifecycle(e, 'schedule_fired').length > 0);
    expect(lifecycle(events, 'schedule_fired')[0]!.data).toEqual({
      type: 'schedule_fired',
      scheduleId: s.id,
      messageId: done.lastMessageId,
      plannedAt: at,
    });
    // A pass that believes it is an hour later finds nothing due: a one-off never fires twice.
    await srv.parts.schedules.tick(new Date(Date.now() + HOUR));
    expect(await messagesOf(sessionId)).toHaveLength(1);
    const resume = await patch(s, { paused: false });
    expect([resume.res.status, resume.body.code]).toEqual([409, 'SCHEDULE_COMPLETED']);
    const rearmed = await patch(s, { at: new Date(Date.now() + HOUR).toISOString() });
    expect(rearmed.body).toMatchObject({ status: 'active', nextRunAt: rearmed.body.at });
  });

  it('fires a late tick once inside the catch-up window and records the skipped ones as missed', async () => {
    const { sessionId } = await newSession(srv);
    const s = (await create(sessionId, { text: 'late', everyMs: 60_000 })).body;
    const first = new Date(s.nextRunAt!).getTime();
    // Five ticks overdue, the last of them 10 s ago: only that one fires.
    await srv.parts.schedules.tick(new Date(first + 4 * 60_000 + 10_000));
    await srv.parts.schedules.tick(new Date(first + 4 * 60_000 + 10_000));
    const after = await get(s);
    expect(after).toMatchObject({
      runCount: 1,
      lastRunAt: new Date(first + 4 * 60_000).toISOString(),
      nextRunAt: new Date(first + 5 * 60_000).toISOString(),
    });
    expect(await messagesOf(sessionId)).toHaveLength(1);
    // An hourly tick found twenty minutes late is outside the ten-minute window: missed, nothing posted.
    await call(srv, 'DELETE', `/v1/sessions/${sessionId}/schedules/${s.id}`);
    const hourly = (await create(sessionId, { text: 'hourly', everyMs: HOUR })).body;
    const due = new Date(hourly.nextRunAt!).getTime();
    await srv.parts.schedules.tick(new Date(due + 20 * 60_000));
    expect(await get(hourly)).toMatchObject({ runCount: 0, nextRunAt: new Date(due + HOUR).toISOString() });
    expect(await messagesOf(sessionId)).toHaveLength(1);
    const events = await collectEvents(srv, sessionId, (e) => lifecycle(e, 'schedule_missed').length >= 2);
    expect(lifecycle(events, 'schedule_missed').map((e) => e.data)).toEqual([
      {
        type: 'schedule_missed',
        scheduleId: s.id,
        plannedAt: new Date(first).toISOString(),
        before: new Date(first + 4 * 60_000).toISOString(),
      },
      {
        type: 'schedule_missed',
        scheduleId: hourly.id,
        plannedAt: new Date(due).toISOString(),
        before: new Date(due + HOUR).toISOString(),
      },
    ]);
    expect(lifecycle(events, 'schedule_fired')).toHaveLength(1);
  });
});
