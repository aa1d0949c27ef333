import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/db.ts';
import { listEvents, storeBatch } from '../../src/store/events.ts';
import { createGroup } from '../../src/store/groups.ts';
import { enqueueMessage, getMessage, takePending } from '../../src/store/messages.ts';
import { createSession } from '../../src/store/sessions.ts';
import { dbKinds, freshStore } from '../support/db.ts';

describe.each(dbKinds())('storeBatch (%s)', (kind) => {
  let store: Store;
  let folders = 0;

  /** A session with `n` messages delivered to generation 1. */
  async function delivered(n: number) {
    const group = await createGroup(store.db, { name: 'g', folder: `f-${++folders}`, trust: 'member' });
    const session = await createSession(store.db, { groupId: group.id });
    for (let i = 0; i < n; i++) await enqueueMessage(store.db, { sessionId: session.id, body: `m${i}` });
    const taken = await takePending(store.db, { sessionId: session.id, generation: 1, limit: n });
    return { sessionId: session.id, ids: taken.map((m) => m.id) };
  }

  beforeAll(async () => {
    store = await freshStore(kind);
  });
  afterAll(async () => {
    await store?.close();
  });

  it('stores the replies and settles their messages together, fields intact', async () => {
    const { sessionId, ids } = await delivered(2);
    const time = new Date('2026-01-02T03:04:05.678Z');
    const rows = await storeBatch(
      store.db,
      sessionId,
      [
        { kind: 'output', generation: 1, data: { inReplyTo: ids[0], text: 'a' }, time },
        { kind: 'log', stream: 'stderr', generation: 1, data: { line: 'x' } },
      ],
      [
        { id: ids[0]!, status: 'done' },
        { id: ids[1]!, status: 'failed', error: 'boom' },
      ],
    );
    expect(rows.map((r) => [r.seq, r.kind, r.stream, r.generation])).toEqual([
      [1, 'output', null, 1],
      [2, 'log', 'stderr', 1],
    ]);
    expect(rows[0]!.time.toISOString()).toBe(time.toISOString());
    expect(await listEvents(store.db, { sessionId, after: 0, limit: 10 })).toEqual(rows);
    expect(await getMessage(store.db, sessionId, ids[0]!)).toMatchObject({ status: 'done', error: null });
    expect(await getMessage(store.db, sessionId, ids[1]!)).toMatchObject({ status: 'failed', error: 'boom' });
  });

  it('settles only delivered messages, the first verdict per message winning', async () => {
    const { sessionId, ids } = await delivered(2);
    await storeBatch(store.db, sessionId, [], [{ id: ids[0]!, status: 'done' }]);
    await storeBatch(
      store.db,
      sessionId,
      [],
      [
        { id: ids[0]!, status: 'failed', error: 'late' },
        { id: ids[1]!, status: 'failed', error: 'first' },
        { id: ids[1]!, status: 'done' },
      ],
    );
    expect(await getMessage(store.db, sessionId, ids[0]!)).toMatchObject({ status: 'done', error: null });
    expect(await getMessage(store.db, sessionId, ids[1]!)).toMatchObject({
      status: 'failed',
      error: 'first',
    });
  });

  it('a batch that fails stores nothing and settles nothing', async () => {
    const { sessionId, ids } = await delivered(1);
    // A seq already taken (the counter set back by hand) makes the insert fail as a whole.
    await storeBatch(store.db, sessionId, [{ kind: 'log', data: { line: 'first' } }], []);
    await store.db.execute(sql`update sessions set event_seq = 0 where id = ${sessionId}`);
    await expect(
      storeBatch(
        store.db,
        sessionId,
        [{ kind: 'output', data: { text: 'r' } }],
        [{ id: ids[0]!, status: 'done' }],
      ),
    ).rejects.toThrow();
    expect(await getMessage(store.db, sessionId, ids[0]!)).toMatchObject({ status: 'delivered' });
    expect(await listEvents(store.db, { sessionId, after: 0, limit: 10 })).toHaveLength(1);
  });
});
