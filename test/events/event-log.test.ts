import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/events/event-log.ts';
import { silentLogger as log } from '../../src/logger.ts';
import type { Store } from '../../src/store/db.ts';
import { listEvents } from '../../src/store/events.ts';
import { createGroup } from '../../src/store/groups.ts';
import { createSession } from '../../src/store/sessions.ts';
import { dbKinds, freshStore } from '../support/db.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
let folders = 0;

describe.each(dbKinds())('event log batches on %s', (kind) => {
  let store: Store;
  let events: EventLog;
  let other: EventLog;

  beforeAll(async () => {
    store = await freshStore(kind);
    events = new EventLog(store, { instanceId: 'a', log, maxQueuedLogs: 100_000 });
    // A second instance on the same database, appending to the same session at the same time.
    other = new EventLog(store, { instanceId: 'b', log, maxQueuedLogs: 100_000 });
    await Promise.all([events.start(), other.start()]);
  });
  afterAll(async () => {
    await Promise.all([events?.close(), other?.close()]);
    await store?.close();
  });

  async function session(): Promise<string> {
    const group = await createGroup(store.db, { name: 'g', folder: `el-${++folders}`, trust: 'member' });
    return (await createSession(store.db, { groupId: group.id })).id;
  }

  it('stores thousands of lines in multi-row statements in append order, with nothing lost', async () => {
    const sessionId = await session();
    const lines = range(12_345);
    const rows = await Promise.all(
      lines.map((i) =>
        events.append(sessionId, {
          kind: 'log',
          stream: 'stderr',
          generation: 1,
          data: { line: `line ${i}` },
        }),
      ),
    );
    expect(rows.map((r) => r?.seq)).toEqual(lines);
    const stored = await listEvents(store.db, { sessionId, after: 0, limit: 20_000 });
    expect(stored.map((r) => r.seq)).toEqual(lines);
    expect(stored.map((r) => r.data.line)).toEqual(lines.map((i) => `line ${i}`));
    // The rows handed to listeners are built, not read back: they must equal what is stored.
    expect(rows.at(-1)).toEqual(stored.at(-1));
  });

  it('keeps each instance’s lines in order and every seq unique when two append at once', async () => {
    const sessionId = await session();
    const n = 3000;
    const append = (log: EventLog, who: string) =>
      Promise.all(range(n).map((i) => log.append(sessionId, { kind: 'log', data: { who, i } })));
    const [a, b] = await Promise.all([append(events, 'a'), append(other, 'b')]);
    const stored = await listEvents(store.db, { sessionId, after: 0, limit: 10_000 });
    expect(stored.map((r) => r.seq)).toEqual(range(2 * n));
    for (const [who, rows] of [
      ['a', a],
      ['b', b],
    ] as const) {
      const mine = stored.filter((r) => r.data.who === who);
      expect(mine.map((r) => r.data.i)).toEqual(range(n));
      expect(rows.map((r) => r!.seq)).toEqual(mine.map((r) => r.seq));
    }
  });

  it('stores NUL characters as U+FFFD inside a large batch', async () => {
    const sessionId = await session();
    const rows = await Promise.all(
      range(50).map((i) =>
        events.append(sessionId, {
          kind: 'log',
          stream: 'a\u0000b',
          data: { line: i === 25 ? 'x\u0000y' : `${i}` },
        }),
      ),
    );
    const stored = await listEvents(store.db, { sessionId, after: 0, limit: 100 });
    expect(stored).toHaveLength(50);
    expect(stored[24]!.data.line).toBe('x\uFFFDy');
    expect(stored[0]!.stream).toBe('a\uFFFDb');
    expect(rows[24]).toEqual(stored[24]);
  });

  it('answers concurrent reads of the same page with one read: the same rows for every reader', async () => {
    const sessionId = await session();
    await Promise.all(range(600).map((i) => events.append(sessionId, { kind: 'log', data: { i } })));
    const pages = await Promise.all(range(10).map(() => events.read({ sessionId, after: 0, limit: 500 })));
    for (const page of pages) expect(page).toBe(pages[0]);
    expect(pages[0]!.map((r) => r.seq)).toEqual(range(500));
    // A short last page is not kept: events stored later still show up.
    const tail = await events.read({ sessionId, after: 500, limit: 500 });
    expect(tail).toHaveLength(100);
    await events.append(sessionId, { kind: 'log', data: { i: 601 } });
    expect(await events.read({ sessionId, after: 500, limit: 500 })).toHaveLength(101);
  });
});
