import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../../src/store/db.ts';
import { createGroup } from '../../src/store/groups.ts';
import { listMessages } from '../../src/store/messages.ts';
import { fireTick, getSchedule, insertSchedule, skipTick } from '../../src/store/schedules.ts';
import type { ScheduleRow } from '../../src/store/schema.ts';
import { createSession, deleteSession } from '../../src/store/sessions.ts';
import { dbKinds, freshStore } from '../support/db.ts';

describe.each(dbKinds())('schedule store (%s)', (kind) => {
  let store: Store & { url?: string };
  /** A second connection pool on the same PostgreSQL database, as another instance has (PGlite: the same). */
  let other: Store;
  let folders = 0;

  beforeAll(async () => {
    store = await freshStore(kind);
    other = store.url ? await openStore({ databaseUrl: store.url, dataDir: '' }) : store;
  });
  afterAll(async () => {
    if (other !== store) await other?.close();
    await store?.close();
  });

  async function newSchedule(): Promise<ScheduleRow> {
    const group = await createGroup(store.db, { name: 'g', folder: `f-${++folders}`, trust: 'member' });
    const session = await createSession(store.db, { groupId: group.id });
    const trigger = { cron: null, everyMs: 1000, at: null, timezone: 'UTC' };
    return insertSchedule(
      store.db,
      { sessionId: session.id, text: 'tick', ...trigger, nextRunAt: new Date('2030-01-01T00:00:00Z') },
      10,
    );
  }

  it('lets exactly one of 20 concurrent firings of one tick through, with one message', async () => {
    const schedule = await newSchedule();
    const planned = schedule.nextRunAt!;
    const next = new Date(planned.getTime() + 1000);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fireTick((i % 2 ? other : store).db, { schedule, planned, firing: planned, next }),
      ),
    );
    const won = results.filter((r) => r !== undefined);
    expect(won).toHaveLength(1);
    const messages = await listMessages(store.db, { sessionId: schedule.sessionId, after: 0, limit: 100 });
    expect(messages.map((m) => [m.id, m.seq, m.idempotencyKey])).toEqual([
      [won[0]!.message.id, 1, `schedule:${schedule.id}:${planned.toISOString()}`],
    ]);
    expect(await getSchedule(store.db, schedule.sessionId, schedule.id)).toMatchObject({
      nextRunAt: next,
      lastRunAt: planned,
      lastMessageId: won[0]!.message.id,
      runCount: 1,
    });
  });

  it('refuses a firing or a skip whose tick another instance already moved on', async () => {
    const schedule = await newSchedule();
    const planned = schedule.nextRunAt!;
    const later = new Date(planned.getTime() + 5000);
    expect(
      await skipTick(store.db, { id: schedule.id, planned, change: { nextRunAt: later } }),
    ).toBeDefined();
    expect(await fireTick(other.db, { schedule, planned, firing: planned, next: later })).toBeUndefined();
    expect(
      await skipTick(store.db, { id: schedule.id, planned, change: { nextRunAt: later } }),
    ).toBeUndefined();
    expect(await listMessages(store.db, { sessionId: schedule.sessionId, after: 0, limit: 10 })).toEqual([]);
  });

  it('keeps to the per-session limit under concurrent creation, and goes with its session', async () => {
    const first = await newSchedule();
    const trigger = { cron: null, everyMs: 1000, at: null, timezone: 'UTC', nextRunAt: new Date() };
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) =>
        insertSchedule((i % 2 ? other : store).db, { sessionId: first.sessionId, text: 'x', ...trigger }, 5),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(4);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(new Set(refused.map((r) => (r.reason as { code: string }).code))).toEqual(
      new Set(['SCHEDULE_LIMIT_REACHED']),
    );
    await deleteSession(store.db, first.sessionId);
    await expect(getSchedule(store.db, first.sessionId, first.id)).rejects.toMatchObject({
      code: 'SCHEDULE_NOT_FOUND',
    });
  });
});
