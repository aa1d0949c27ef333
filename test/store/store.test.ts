import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openStore, type Store } from '../../src/store/db.ts';
import { appendEvents, lastEventSeq, listEvents, pruneEvents } from '../../src/store/events.ts';
import { createGroup } from '../../src/store/groups.ts';
import {
  enqueueMessage,
  getMessage,
  listMessages,
  pendingMessages,
  requeueUnacked,
  settleMessage,
  takePending,
} from '../../src/store/messages.ts';
import type { SessionRow } from '../../src/store/schema.ts';
import { claimWake, createSession, getSession, liveSessions, updateRun } from '../../src/store/sessions.ts';
import { dbKinds, freshStore } from '../support/db.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe.each(dbKinds())('store (%s)', (kind) => {
  let store: Store & { url?: string };
  let folders = 0;

  async function newSession(): Promise<SessionRow> {
    const group = await createGroup(store.db, { name: 'g', folder: `f-${++folders}`, trust: 'member' });
    return createSession(store.db, { groupId: group.id });
  }

  beforeAll(async () => {
    store = await freshStore(kind);
  });
  afterAll(async () => {
    await store?.close();
  });

  describe('enqueueMessage', () => {
    it('gives 50 concurrent posts the seqs 1..50, each once', async () => {
      const session = await newSession();
      const results = await Promise.all(
        range(50).map((i) => enqueueMessage(store.db, { sessionId: session.id, body: `m${i}` })),
      );
      expect(results.every((r) => r.created)).toBe(true);
      expect(results.map((r) => r.message.seq).sort((a, b) => a - b)).toEqual(range(50));
      const listed = await listMessages(store.db, { sessionId: session.id, after: 0, limit: 100 });
      expect(listed.map((m) => m.seq)).toEqual(range(50));
      expect(new Set(listed.map((m) => m.id)).size).toBe(50);
      expect((await getSession(store.db, session.id)).messageSeq).toBe(50);
    });

    it('returns the original message for a repeated idempotency key', async () => {
      const session = await newSession();
      const first = await enqueueMessage(store.db, { sessionId: session.id, body: 'a', idempotencyKey: 'k' });
      const again = await enqueueMessage(store.db, { sessionId: session.id, body: 'a', idempotencyKey: 'k' });
      expect(first.created).toBe(true);
      expect(again.created).toBe(false);
      expect(again.message).toEqual(first.message);
      const next = await enqueueMessage(store.db, {
        sessionId: session.id,
        body: 'c',
        idempotencyKey: 'other',
      });
      expect(next.message.seq).toBe(2);
    });

    it('stores one message for 20 concurrent posts with the same key', async () => {
      const session = await newSession();
      const results = await Promise.all(
        range(20).map(() =>
          enqueueMessage(store.db, { sessionId: session.id, body: 'x', idempotencyKey: 'same' }),
        ),
      );
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.message.id)).size).toBe(1);
      expect(await listMessages(store.db, { sessionId: session.id, after: 0, limit: 100 })).toHaveLength(1);
    });

    it('30 concurrent posts of 10 keys: 10 messages with the seqs 1..10, retries take no seq', async () => {
      const session = await newSession();
      const results = await Promise.all(
        range(30).map((i) =>
          enqueueMessage(store.db, {
            sessionId: session.id,
            body: `b${i % 10}`,
            idempotencyKey: `k${i % 10}`,
          }),
        ),
      );
      expect(results.filter((r) => r.created)).toHaveLength(10);
      const byKey = new Map(
        results.filter((r) => r.created).map((r) => [r.message.idempotencyKey, r.message.id]),
      );
      for (const r of results) expect(r.message.id).toBe(byKey.get(r.message.idempotencyKey));
      const listed = await listMessages(store.db, { sessionId: session.id, after: 0, limit: 100 });
      expect(listed.map((m) => m.seq)).toEqual(range(10));
      expect((await getSession(store.db, session.id)).messageSeq).toBe(10);
    });

    it('refuses a reused key with another body and takes no seq for it', async () => {
      const session = await newSession();
      await enqueueMessage(store.db, {
        sessionId: session.id,
        body: 'a',
        idempotencyKey: 'k',
        requestHash: 'h1',
      });
      await expect(
        enqueueMessage(store.db, {
          sessionId: session.id,
          body: 'b',
          idempotencyKey: 'k',
          requestHash: 'h2',
        }),
      ).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
      const next = await enqueueMessage(store.db, { sessionId: session.id, body: 'c' });
      expect(next.message.seq).toBe(2);
    });

    it('scopes idempotency keys to their session', async () => {
      const [a, b] = [await newSession(), await newSession()];
      const inA = await enqueueMessage(store.db, { sessionId: a.id, body: 'x', idempotencyKey: 'k' });
      const inB = await enqueueMessage(store.db, { sessionId: b.id, body: 'x', idempotencyKey: 'k' });
      expect([inA.created, inB.created]).toEqual([true, true]);
      expect(inA.message.id).not.toBe(inB.message.id);
    });

    it('a message that cannot be stored takes no seq', async () => {
      const session = await newSession();
      await expect(enqueueMessage(store.db, { sessionId: session.id, body: 'a\u0000' })).rejects.toThrow();
      const next = await enqueueMessage(store.db, { sessionId: session.id, body: 'ok' });
      expect(next.message.seq).toBe(1);
    });

    it('refuses an unknown session with SESSION_NOT_FOUND', async () => {
      await expect(
        enqueueMessage(store.db, { sessionId: 'ses_000000000000000000000', body: 'x' }),
      ).rejects.toMatchObject({ code: 'SESSION_NOT_FOUND', status: 404 });
    });
  });

  describe('delivery bookkeeping', () => {
    it('requeues unacked messages of the ended generation and fails them after maxAttempts', async () => {
      const session = await newSession();
      const m1 = (await enqueueMessage(store.db, { sessionId: session.id, body: 'one' })).message;
      const m2 = (await enqueueMessage(store.db, { sessionId: session.id, body: 'two' })).message;

      const taken = await takePending(store.db, { sessionId: session.id, generation: 1, limit: 10 });
      expect(taken.map((m) => m.id)).toEqual([m1.id, m2.id]);
      expect(await getMessage(store.db, session.id, m1.id)).toMatchObject({
        status: 'delivered',
        attempts: 1,
        deliveredGeneration: 1,
      });
      expect(await settleMessage(store.db, { sessionId: session.id, id: m1.id, status: 'done' })).toBe(true);
      // A duplicate ack is not a second settlement.
      expect(await settleMessage(store.db, { sessionId: session.id, id: m1.id, status: 'done' })).toBe(false);

      // Another generation's end does not touch generation 1's messages.
      const other = await requeueUnacked(store.db, {
        sessionId: session.id,
        generation: 2,
        maxAttempts: 2,
        reason: 'exited',
      });
      expect(other).toEqual({ requeued: 0, failed: [] });

      const first = await requeueUnacked(store.db, {
        sessionId: session.id,
        generation: 1,
        maxAttempts: 2,
        reason: 'exited',
      });
      expect(first).toEqual({ requeued: 1, failed: [] });
      expect((await pendingMessages(store.db, session.id)).map((m) => m.id)).toEqual([m2.id]);

      // A done message is not taken again; the pending one goes out with generation 2.
      const again = await takePending(store.db, { sessionId: session.id, generation: 2, limit: 10 });
      expect(again.map((m) => m.id)).toEqual([m2.id]);
      expect(await getMessage(store.db, session.id, m1.id)).toMatchObject({ status: 'done', attempts: 1 });
      expect(await getMessage(store.db, session.id, m2.id)).toMatchObject({
        status: 'delivered',
        attempts: 2,
        deliveredGeneration: 2,
      });

      const second = await requeueUnacked(store.db, {
        sessionId: session.id,
        generation: 2,
        maxAttempts: 2,
        reason: 'oom',
      });
      expect(second.requeued).toBe(0);
      expect(second.failed.map((m) => m.id)).toEqual([m2.id]);
      const failed = await getMessage(store.db, session.id, m2.id);
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatch(/2 attempts/);
      expect(failed.error).toMatch(/oom/);
      expect(await pendingMessages(store.db, session.id)).toEqual([]);
    });

    it('requeues every generation when none is given', async () => {
      const session = await newSession();
      const a = (await enqueueMessage(store.db, { sessionId: session.id, body: 'a' })).message;
      const b = (await enqueueMessage(store.db, { sessionId: session.id, body: 'b' })).message;
      expect(await takePending(store.db, { sessionId: session.id, generation: 3, limit: 1 })).toMatchObject([
        { id: a.id },
      ]);
      expect(await takePending(store.db, { sessionId: session.id, generation: 4, limit: 1 })).toMatchObject([
        { id: b.id },
      ]);
      const result = await requeueUnacked(store.db, {
        sessionId: session.id,
        maxAttempts: 5,
        reason: 'lost',
      });
      expect(result).toEqual({ requeued: 2, failed: [] });
      expect((await pendingMessages(store.db, session.id)).map((m) => m.seq)).toEqual([1, 2]);
    });
  });

  describe('appendEvents', () => {
    it('gives concurrent batches consecutive seqs with no gaps or duplicates', async () => {
      const session = await newSession();
      const batches = range(20).map((i) =>
        range((i % 5) + 1).map((j) => ({
          kind: 'log' as const,
          stream: 'stderr',
          data: { batch: i, line: j },
        })),
      );
      const results = await Promise.all(batches.map((batch) => appendEvents(store.db, session.id, batch)));
      const total = batches.reduce((n, b) => n + b.length, 0);
      for (const [i, rows] of results.entries()) {
        expect(rows).toHaveLength(batches[i]!.length);
        const seqs = rows.map((r) => r.seq);
        expect(seqs).toEqual(seqs.map((_, k) => seqs[0]! + k));
        expect(rows.map((r) => r.data)).toEqual(batches[i]!.map((e) => e.data));
      }
      expect(
        results
          .flat()
          .map((r) => r.seq)
          .sort((a, b) => a - b),
      ).toEqual(range(total));
      expect(await lastEventSeq(store.db, session.id)).toBe(total);
      const listed = await listEvents(store.db, { sessionId: session.id, after: 0, limit: 1000 });
      expect(listed.map((e) => e.seq)).toEqual(range(total));
    });

    it('filters by kind and cursor', async () => {
      const session = await newSession();
      await appendEvents(store.db, session.id, [
        { kind: 'lifecycle', generation: 1, data: { type: 'wake' } },
        { kind: 'log', stream: 'stderr', generation: 1, data: { line: 'x' } },
        { kind: 'output', generation: 1, data: { text: 'hi' } },
      ]);
      const outputs = await listEvents(store.db, {
        sessionId: session.id,
        after: 0,
        kinds: ['output'],
        limit: 10,
      });
      expect(outputs.map((e) => [e.seq, e.kind])).toEqual([[3, 'output']]);
      const after = await listEvents(store.db, { sessionId: session.id, after: 1, limit: 10 });
      expect(after.map((e) => e.seq)).toEqual([2, 3]);
    });

    it('stores NUL characters in event text as U+FFFD instead of failing the batch', async () => {
      const session = await newSession();
      const rows = await appendEvents(store.db, session.id, [
        {
          kind: 'log',
          stream: 'std\u0000err',
          data: { line: 'a\u0000b', nested: [{ 'k\u0000': '\u0000' }] },
        },
        { kind: 'output', data: { text: 'reply' } },
      ]);
      expect(rows.map((r) => r.seq)).toEqual([1, 2]);
      const [log, reply] = await listEvents(store.db, { sessionId: session.id, after: 0, limit: 10 });
      expect(log).toMatchObject({
        stream: 'std\uFFFDerr',
        data: { line: 'a\uFFFDb', nested: [{ 'k\uFFFD': '\uFFFD' }] },
      });
      expect(reply!.data).toEqual({ text: 'reply' });
    });

    it('appends nothing for an unknown session', async () => {
      expect(await appendEvents(store.db, 'ses_000000000000000000000', [{ kind: 'log', data: {} }])).toEqual(
        [],
      );
    });
  });

  describe('pruneEvents', () => {
    it('keeps the newest N events of each session', async () => {
      const [big, small] = [await newSession(), await newSession()];
      await appendEvents(
        store.db,
        big.id,
        range(30).map((i) => ({ kind: 'log' as const, data: { i } })),
      );
      await appendEvents(
        store.db,
        small.id,
        range(5).map((i) => ({ kind: 'log' as const, data: { i } })),
      );
      const pruned = await pruneEvents(store.db, { keep: 10, before: new Date(0) });
      expect(pruned).toBeGreaterThanOrEqual(20);
      const left = await listEvents(store.db, { sessionId: big.id, after: 0, limit: 100 });
      expect(left.map((e) => e.seq)).toEqual(range(10).map((i) => 20 + i));
      expect(await listEvents(store.db, { sessionId: small.id, after: 0, limit: 100 })).toHaveLength(5);
      // Seqs keep counting after pruning, so cursors stay valid.
      const [next] = await appendEvents(store.db, big.id, [{ kind: 'log', data: {} }]);
      expect(next!.seq).toBe(31);
    });

    it('drops events older than the cutoff', async () => {
      const session = await newSession();
      const old = new Date(Date.now() - 3_600_000);
      await appendEvents(store.db, session.id, [
        { kind: 'log', data: { old: true }, time: old },
        { kind: 'log', data: { old: true }, time: old },
        { kind: 'log', data: { old: false } },
      ]);
      await pruneEvents(store.db, { keep: 1000, before: new Date(Date.now() - 60_000) });
      const left = await listEvents(store.db, { sessionId: session.id, after: 0, limit: 10 });
      expect(left.map((e) => e.seq)).toEqual([3]);
    });

    it('counts what it deleted', async () => {
      // Settle the other tests' sessions first, so only this one has excess events.
      await pruneEvents(store.db, { keep: 10, before: new Date(0) });
      const session = await newSession();
      await appendEvents(
        store.db,
        session.id,
        range(15).map(() => ({ kind: 'log' as const, data: {} })),
      );
      expect(await pruneEvents(store.db, { keep: 10, before: new Date(0) })).toBe(5);
    });
  });

  describe('claimWake', () => {
    const claim = (s: Store, sessionId: string, instanceId: string, leaseMs = 30_000) =>
      claimWake(s.db, { sessionId, instanceId, leaseMs, containerPrefix: 'berth' });

    it('20 concurrent claims on one session: exactly one wins', async () => {
      const session = await newSession();
      // On PostgreSQL each claimant has its own connection pool, like separate instances.
      const claimants: Store[] =
        kind === 'postgres'
          ? await Promise.all(
              range(20).map(() => openStore({ databaseUrl: store.url, dataDir: '', maxConnections: 1 })),
            )
          : range(20).map(() => store);
      try {
        const results = await Promise.all(claimants.map((s, i) => claim(s, session.id, `instance-${i}`)));
        const winners = results.filter((r) => r.claimed);
        expect(winners).toHaveLength(1);
        expect(new Set(results.map((r) => r.session.generation))).toEqual(new Set([1]));
        const row = await getSession(store.db, session.id);
        expect(row).toMatchObject({
          status: 'starting',
          generation: 1,
          containerName: `berth-${session.id}-1`,
          ownerInstance: winners[0]!.session.ownerInstance,
        });
        expect(row.leaseExpiresAt!.getTime()).toBeGreaterThan(Date.now());
      } finally {
        if (kind === 'postgres') await Promise.all(claimants.map((s) => s.close()));
      }
    });

    it('a lapsed lease lets another instance take a new generation', async () => {
      const session = await newSession();
      // A negative lease is already over by the database's clock, so no waiting is needed.
      const first = await claim(store, session.id, 'a', -1000);
      expect(first).toMatchObject({ claimed: true, session: { generation: 1 } });
      const second = await claim(store, session.id, 'b');
      expect(second).toMatchObject({ claimed: true, session: { generation: 2, ownerInstance: 'b' } });
      // The old owner can no longer update the run.
      expect(
        await updateRun(
          store.db,
          { sessionId: session.id, generation: 1, instanceId: 'a' },
          { status: 'running' },
        ),
      ).toBe(false);
      expect(
        await updateRun(
          store.db,
          { sessionId: session.id, generation: 2, instanceId: 'b' },
          { status: 'running' },
        ),
      ).toBe(true);
    });

    it('reports lease validity as the database sees it', async () => {
      const session = await newSession();
      await claim(store, session.id, 'a');
      const leaseOf = async () => (await liveSessions(store.db)).find((s) => s.id === session.id)?.leaseValid;
      expect(await leaseOf()).toBe(true);
      await updateRun(
        store.db,
        { sessionId: session.id, generation: 1, instanceId: 'a' },
        { leaseMs: -1000 },
      );
      expect(await leaseOf()).toBe(false);
    });

    // PGlite runs inside this process and reads its clock, so only a server can disagree with it.
    if (kind === 'postgres')
      it("judges leases by the database's clock, not this process's", async () => {
        const session = await newSession();
        await claim(store, session.id, 'a');
        vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 3_600_000 });
        try {
          const second = await claim(store, session.id, 'b');
          expect(second).toMatchObject({ claimed: false, session: { ownerInstance: 'a' } });
          expect((await liveSessions(store.db)).find((s) => s.id === session.id)?.leaseValid).toBe(true);
        } finally {
          vi.useRealTimers();
        }
      });

    it('an idle session is claimed again after its run ended', async () => {
      const session = await newSession();
      await claim(store, session.id, 'a');
      await updateRun(
        store.db,
        { sessionId: session.id, generation: 1, instanceId: 'a' },
        { status: 'idle', lastExitReason: 'exited', lastExitCode: 0, clearOwner: true },
      );
      const again = await claim(store, session.id, 'a');
      expect(again).toMatchObject({ claimed: true, session: { generation: 2, status: 'starting' } });
    });

    it('refuses an unknown session', async () => {
      await expect(claim(store, 'ses_000000000000000000000', 'a')).rejects.toMatchObject({
        code: 'SESSION_NOT_FOUND',
      });
    });
  });
});
