import process from 'node:process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message, Schedule } from '../support/contract.ts';
import { dbKinds, freshDatabaseUrl } from '../support/db.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import {
  type ApiEvent,
  collectEvents,
  json,
  lifecycle,
  newSession,
  replies,
  until,
} from '../support/sessions.ts';

const HOUR = 3_600_000;
const runtimes = runtimesUnderTest();

const env = (runtime: string, image: string) => ({
  BERTH_RUNTIME: runtime,
  BERTH_IMAGE: image,
  BERTH_AGENT: 'echo',
  BERTH_STOP_GRACE_MS: '1000',
  BERTH_SCHEDULE_POLL_MS: '100',
  BERTH_SCHEDULE_MAX_FAILURES: '2',
  BERTH_LOG_LEVEL: process.env.DEBUG_BERTH ? 'debug' : 'silent',
});

const create = async (srv: TestServer, sessionId: string, body: Record<string, unknown>) =>
  json<Schedule>(await srv.api(`/v1/sessions/${sessionId}/schedules`, { method: 'POST', json: body }), 201);
const patch = async (srv: TestServer, s: Schedule, body: Record<string, unknown>) =>
  json<Schedule>(
    await srv.api(`/v1/sessions/${s.sessionId}/schedules/${s.id}`, { method: 'PATCH', json: body }),
    200,
  );
const get = async (srv: TestServer, s: Schedule) =>
  json<Schedule>(await srv.api(`/v1/sessions/${s.sessionId}/schedules/${s.id}`), 200);
const messagesOf = async (srv: TestServer, sessionId: string) =>
  (await json<{ items: Message[] }>(await srv.api(`/v1/sessions/${sessionId}/messages?limit=500`), 200))
    .items;

/** Every fired message got exactly one reply, and each schedule_fired event names its message. */
function expectAnswered(events: ApiEvent[], messages: Message[]): void {
  const ids = messages.map((m) => m.id).sort();
  expect(
    lifecycle(events, 'schedule_fired')
      .map((e) => e.data.messageId as string)
      .sort(),
  ).toEqual(ids);
  expect(
    replies(events)
      .map((e) => e.data.inReplyTo as string)
      .sort(),
  ).toEqual(ids);
}

describe.each(runtimes)('scheduled messages answered by the echo agent on %s', (runtime) => {
  let srv: TestServer;

  beforeAll(async () => {
    srv = await startTestServer('pglite', env(runtime, await ensureAgentImage(runtime)));
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('fires an interval as ordinary messages; pause stops it, resume restarts it', async () => {
    const { sessionId } = await newSession(srv);
    const s = await create(srv, sessionId, { text: 'tick', everyMs: 1000 });
    const early = await collectEvents(srv, sessionId, (e) => replies(e).length >= 3);
    expect(
      replies(early)
        .slice(0, 3)
        .map((e) => e.data.text),
    ).toEqual(['echo: tick', 'echo: tick', 'echo: tick']);

    const paused = await patch(srv, s, { paused: true });
    expect(paused).toMatchObject({ status: 'paused', nextRunAt: null });
    // The PATCH held the row lock, so no firing can follow it: a pass that thinks an hour went by fires nothing.
    await srv.parts.schedules.tick(new Date(Date.now() + HOUR));
    expect((await get(srv, s)).runCount).toBe(paused.runCount);
    const atPause = await until(async () => {
      const all = await messagesOf(srv, sessionId);
      return all.every((m) => m.status === 'done') ? all : undefined;
    });
    expect(atPause).toHaveLength(paused.runCount);
    expect(atPause.map((m) => m.text)).toEqual(atPause.map(() => 'tick'));

    await patch(srv, s, { paused: false });
    await collectEvents(srv, sessionId, (e) => replies(e).length >= paused.runCount + 2);
    await patch(srv, s, { paused: true });
    const messages = await until(async () => {
      const all = await messagesOf(srv, sessionId);
      return all.every((m) => m.status === 'done') ? all : undefined;
    });
    expect(messages.length).toBe((await get(srv, s)).runCount);
    expect(messages.length).toBeGreaterThanOrEqual(paused.runCount + 2);
    const events = await collectEvents(srv, sessionId, (e) => replies(e).length >= messages.length);
    expectAnswered(events, messages);
  });

  it('fires a one-off once, answered by the agent', async () => {
    const { sessionId } = await newSession(srv);
    const s = await create(srv, sessionId, { text: 'once', at: new Date(Date.now() + 1000).toISOString() });
    const events = await collectEvents(srv, sessionId, (e) => replies(e).length >= 1);
    expect(replies(events).map((e) => e.data.text)).toEqual(['echo: once']);
    expect(await get(srv, s)).toMatchObject({ status: 'completed', runCount: 1, nextRunAt: null });
    await srv.parts.schedules.tick(new Date(Date.now() + HOUR));
    const messages = await messagesOf(srv, sessionId);
    expect(messages.map((m) => m.text)).toEqual(['once']);
    expectAnswered(events, messages);
  });

  it('pauses a schedule whose messages keep failing', async () => {
    const { sessionId } = await newSession(srv);
    // The echo agent refuses unknown test hooks with an error frame: each message ends `failed`.
    const s = await create(srv, sessionId, { text: '!no-such-hook', everyMs: 1000 });
    const paused = await until(async () => {
      const now = await get(srv, s);
      return now.status === 'paused' ? now : undefined;
    }, 30_000);
    expect(paused).toMatchObject({ pausedReason: 'failures', nextRunAt: null });
    const events = await collectEvents(srv, sessionId, (e) => lifecycle(e, 'schedule_paused').length > 0);
    expect(lifecycle(events, 'schedule_paused')[0]!.data).toEqual({
      type: 'schedule_paused',
      scheduleId: s.id,
      reason: 'failures',
      failures: 2,
    });
    const messages = await messagesOf(srv, sessionId);
    expect(messages.slice(-2).map((m) => m.status)).toEqual(['failed', 'failed']);
  });
});

const runtime = runtimes[0];
describe.runIf(runtime && dbKinds().includes('postgres'))(
  'an interval on two instances with the echo agent',
  () => {
    let a: TestServer;
    let b: TestServer;

    beforeAll(async () => {
      const shared = {
        ...env(runtime!, await ensureAgentImage(runtime!)),
        DATABASE_URL: await freshDatabaseUrl(),
      };
      a = await startTestServer('postgres', shared);
      b = await startTestServer('postgres', shared);
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
    });

    it('posts each tick once and every one is answered once', async () => {
      const { sessionId } = await newSession(a);
      const s = await create(b, sessionId, { text: 'both', everyMs: 1000 });
      await collectEvents(a, sessionId, (e) => replies(e).length >= 4);
      await a.parts.schedules.close();
      await b.parts.schedules.close();
      const { runCount } = await get(a, s);
      const settled = await until(async () => {
        const all = await messagesOf(a, sessionId);
        return all.every((m) => m.status === 'done') ? all : undefined;
      });
      expect(settled).toHaveLength(runCount);
      expect(new Set(settled.map((m) => m.idempotencyKey)).size).toBe(runCount);
      const events = await collectEvents(b, sessionId, (e) => replies(e).length >= runCount);
      expectAnswered(events, settled);
    });
  },
);
