import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbKinds, freshDatabaseUrl } from '../support/db.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { collectEvents, json, newSession, post, replies, until } from '../support/sessions.ts';

const runtime = runtimesUnderTest()[0];
const withPostgres = dbKinds().includes('postgres');

describe.runIf(runtime && withPostgres)('several instances sharing one PostgreSQL', () => {
  let url: string;
  let image: string;
  let a: TestServer;
  let b: TestServer;
  const start = () =>
    startTestServer('postgres', {
      DATABASE_URL: url,
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_STOP_GRACE_MS: '1000',
    });

  beforeAll(async () => {
    url = await freshDatabaseUrl();
    image = await ensureAgentImage(runtime!);
    a = await start();
    b = await start();
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('wakes one container for concurrent wakes arriving at both instances', async () => {
    const { sessionId } = await newSession(a);
    const calls = Array.from({ length: 40 }, (_, i) =>
      (i % 2 ? a : b).api(`/v1/sessions/${sessionId}/wake`, { method: 'POST' }),
    );
    const bodies = await Promise.all(calls.map(async (c) => json<{ generation: number }>(await c, 200)));
    expect(new Set(bodies.map((x) => x.generation))).toEqual(new Set([1]));
    // The answer comes once the runtime CLI is spawned; the container itself appears a moment later.
    const containers = await until(async () => {
      const list = await a.parts.runtime!.list({ 'berth.session': sessionId });
      return list.length > 0 ? list : undefined;
    });
    expect(containers).toHaveLength(1);
  });

  it('delivers a message posted to the instance that does not own the container', async () => {
    const { sessionId } = await newSession(a);
    await post(a, sessionId, 'via a');
    await collectEvents(a, sessionId, (e) => replies(e).length >= 1, { kinds: 'output' });
    await post(b, sessionId, 'via b');
    const events = await collectEvents(b, sessionId, (e) => replies(e).length >= 2, { kinds: 'output' });
    expect(replies(events).map((e) => [e.generation, e.data.text])).toEqual([
      [1, 'echo: via a'],
      [1, 'echo: via b'],
    ]);
  });

  it('loses nothing across a restart: work in flight is redelivered by the next process', async () => {
    const { sessionId } = await newSession(a);
    // Make sure this session's container is owned by instance a.
    await json(await a.api(`/v1/sessions/${sessionId}/wake`, { method: 'POST' }), 200);
    const msg = await post(a, sessionId, '!busy 1500');
    await until(async () => {
      const m = await json<{ status: string }>(await a.api(`/v1/sessions/${sessionId}/messages/${msg.id}`));
      return m.status === 'delivered' ? m : undefined;
    });
    await a.close();
    a = await start();
    const done = await until(async () => {
      const m = await json<{ status: string; attempts: number }>(
        await a.api(`/v1/sessions/${sessionId}/messages/${msg.id}`),
      );
      return m.status === 'done' ? m : undefined;
    }, 40_000);
    expect(done.attempts).toBe(2);
    const events = await collectEvents(a, sessionId, (e) => replies(e).length >= 1, { kinds: 'output' });
    expect(replies(events)).toHaveLength(1);
  });
});
