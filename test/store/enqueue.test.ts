import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/db.ts';
import { createGroup } from '../../src/store/groups.ts';
import { enqueueMessage, listMessages } from '../../src/store/messages.ts';
import { createSession, getSession } from '../../src/store/sessions.ts';
import { dbKinds, freshStore } from '../support/db.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe.each(dbKinds())('enqueueMessage under concurrency (%s)', (kind) => {
  let store: Store;
  let folders = 0;

  async function newSessionId(): Promise<string> {
    const group = await createGroup(store.db, { name: 'g', folder: `f-${++folders}`, trust: 'member' });
    return (await createSession(store.db, { groupId: group.id })).id;
  }

  beforeAll(async () => {
    store = await freshStore(kind);
  });
  afterAll(async () => {
    await store?.close();
  });

  it('stores 150 concurrent posts to one session with the seqs 1..150 in the order they were made', async () => {
    const sessionId = await newSessionId();
    const results = await Promise.all(
      range(150).map((i) => enqueueMessage(store.db, { sessionId, body: `m${i}` })),
    );
    expect(results.map((r) => [r.created, r.message.seq, r.message.body])).toEqual(
      range(150).map((i) => [true, i, `m${i}`]),
    );
    const listed = await listMessages(store.db, { sessionId, after: 0, limit: 200 });
    expect(listed.map((m) => m.body)).toEqual(range(150).map((i) => `m${i}`));
    expect((await getSession(store.db, sessionId)).messageSeq).toBe(150);
  });

  it('a message that cannot be stored fails alone; the others keep gap-free seqs', async () => {
    const sessionId = await newSessionId();
    const settled = await Promise.allSettled(
      range(20).map((i) => enqueueMessage(store.db, { sessionId, body: i === 7 ? 'bad\u0000' : `m${i}` })),
    );
    expect(settled.filter((s) => s.status === 'rejected')).toHaveLength(1);
    expect(settled[6]!.status).toBe('rejected');
    const listed = await listMessages(store.db, { sessionId, after: 0, limit: 100 });
    expect(listed.map((m) => m.seq)).toEqual(range(19));
    expect(listed.map((m) => m.body)).toEqual(
      range(20)
        .filter((i) => i !== 7)
        .map((i) => `m${i}`),
    );
  });

  it('keyed and unkeyed posts interleaved: each key stored once, every seq used once', async () => {
    const sessionId = await newSessionId();
    const results = await Promise.all(
      range(60).map((i) =>
        enqueueMessage(store.db, {
          sessionId,
          body: i % 3 === 0 ? `k${i % 9}` : `m${i}`,
          ...(i % 3 === 0 ? { idempotencyKey: `k${i % 9}` } : {}),
        }),
      ),
    );
    // 40 unkeyed posts and 3 distinct keys (i % 9 of the multiples of 3: 0, 3, 6).
    expect(results.filter((r) => r.created)).toHaveLength(43);
    const listed = await listMessages(store.db, { sessionId, after: 0, limit: 100 });
    expect(listed.map((m) => m.seq)).toEqual(range(43));
    expect(new Set(listed.map((m) => m.id)).size).toBe(43);
  });

  it('refuses posts to an unknown session one by one', async () => {
    const settled = await Promise.allSettled(
      range(5).map(() => enqueueMessage(store.db, { sessionId: 'ses_000000000000000000000', body: 'x' })),
    );
    for (const s of settled)
      expect(s).toMatchObject({ status: 'rejected', reason: { code: 'SESSION_NOT_FOUND' } });
  });
});
