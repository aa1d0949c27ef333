import { execFileSync } from 'node:child_process';
import process from 'node:process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime } from '../../src/runtime/index.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import {
  type ApiEvent,
  collectEvents,
  json,
  lifecycle,
  newSession,
  post,
  replies,
  until,
} from '../support/sessions.ts';

const runtimes = runtimesUnderTest();

describe.each(runtimes)('sessions on %s', (runtime) => {
  let server: TestServer;
  let image: string;
  const installId = `t${Math.random().toString(36).slice(2, 10)}`;
  /** Containers a test started by hand; removed one by one (podman's `rm -f a b` keeps b when a is gone). */
  const started: string[] = [];

  beforeAll(async () => {
    image = await ensureAgentImage(runtime);
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_INSTALL_ID: installId,
      BERTH_STOP_GRACE_MS: '1000',
      BERTH_LOG_LEVEL: process.env.DEBUG_BERTH ? 'debug' : 'silent',
    });
  });

  afterAll(async () => {
    await server?.close();
    const rt = createRuntime(runtime);
    for (const name of started) await rt.remove(name);
  });

  const containersOf = (sessionId: string) => server.parts.runtime!.list({ 'berth.session': sessionId });

  it('answers three messages in order, one container, replies as output events', async () => {
    const { sessionId } = await newSession(server);
    const sent = [];
    for (const text of ['one', 'two', 'three']) {
      const msg = await post(server, sessionId, text);
      expect(msg.status).toBe('pending');
      sent.push(msg);
    }
    const events = await collectEvents(server, sessionId, (e) => replies(e).length >= 3);
    expect(replies(events).map((e) => e.data.text)).toEqual(['echo: one', 'echo: two', 'echo: three']);
    expect(replies(events).map((e) => e.data.inReplyTo)).toEqual(sent.map((m) => m.id));
    expect(lifecycle(events, 'wake')).toHaveLength(1);
    const seqs = events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const messages = await until(async () => {
      const page = await json<{ items: Array<{ status: string }> }>(
        await server.api(`/v1/sessions/${sessionId}/messages`),
      );
      return page.items.every((m) => m.status === 'done') ? page.items : undefined;
    });
    expect(messages).toHaveLength(3);
    expect(await containersOf(sessionId)).toHaveLength(1);
  });

  it('answers GET …/messages/{id}?wait= once the message is done, with its reply', async () => {
    const { sessionId } = await newSession(server);
    const msg = await post(server, sessionId, 'waited');
    const res = await server.api(`/v1/sessions/${sessionId}/messages/${msg.id}?wait=30000`);
    const body = await json<{ status: string; replies: ApiEvent[] }>(res, 200);
    expect(body.status).toBe('done');
    expect(body.replies.map((e) => [e.kind, e.data.text, e.data.inReplyTo])).toEqual([
      ['output', 'echo: waited', msg.id],
    ]);
    const quick = await json<{ status: string; replies: ApiEvent[] }>(
      await server.api(`/v1/sessions/${sessionId}/messages/${msg.id}`),
      200,
    );
    expect(quick.replies).toHaveLength(1);
  });

  it('starts exactly one container for 100 concurrent wakes', async () => {
    const { sessionId } = await newSession(server);
    const results = await Promise.all(
      Array.from({ length: 100 }, () => server.api(`/v1/sessions/${sessionId}/wake`, { method: 'POST' })),
    );
    const bodies = await Promise.all(results.map((r) => json<{ generation: number }>(r, 200)));
    expect(new Set(bodies.map((b) => b.generation))).toEqual(new Set([1]));
    // The answer comes once the runtime CLI is spawned; the container itself appears a moment later.
    const started = await until(async () => {
      const list = await containersOf(sessionId);
      return list.length > 0 ? list : undefined;
    });
    expect(started).toHaveLength(1);
    const session = await json<{ generation: number; status: string }>(
      await server.api(`/v1/sessions/${sessionId}`),
    );
    expect(session).toMatchObject({ generation: 1, status: 'running' });
  });

  it('redelivers a message to a new generation when the container is killed mid-turn, answering once', async () => {
    const { sessionId } = await newSession(server);
    const msg = await post(server, sessionId, '!busy 2500');
    const before = await collectEvents(server, sessionId, (e) =>
      e.some((x) => x.kind === 'log' && String(x.data.line).includes(`id=${msg.id}`)),
    );
    const name = lifecycle(before, 'wake')[0]!.data.containerName as string;
    // SIGTERM: on podman with cgroups v1 an outside SIGKILL under a memory limit is indistinguishable from the OOM killer.
    execFileSync(runtime, ['kill', '--signal', 'TERM', name], { stdio: 'pipe' });
    const events = await collectEvents(
      server,
      sessionId,
      (e) => replies(e).length >= 1 && lifecycle(e, 'wake').length >= 2,
    );
    const exit = lifecycle(events, 'exit')[0]!;
    expect(exit.data).toMatchObject({ reason: 'exited', requeued: 1 });
    expect(exit.generation).toBe(1);
    expect(replies(events)).toHaveLength(1);
    expect(replies(events)[0]).toMatchObject({
      generation: 2,
      data: { inReplyTo: msg.id, text: 'busy 2500' },
    });
    const final = await until(async () => {
      const m = await json<{ status: string; attempts: number }>(
        await server.api(`/v1/sessions/${sessionId}/messages/${msg.id}`),
      );
      return m.status === 'done' ? m : undefined;
    });
    expect(final.attempts).toBe(2);
  });

  it('stops an idle container and wakes a new generation for the next message', async () => {
    const { sessionId } = await newSession(server, { containerConfig: { idleTimeoutMs: 800 } });
    await post(server, sessionId, 'first');
    const first = await collectEvents(server, sessionId, (e) => lifecycle(e, 'exit').length >= 1);
    expect(lifecycle(first, 'exit')[0]!.data.reason).toBe('idle');
    expect(await containersOf(sessionId)).toHaveLength(0);
    const session = await json<{ status: string; lastExit: unknown }>(
      await server.api(`/v1/sessions/${sessionId}`),
    );
    expect(session).toMatchObject({ status: 'idle', lastExit: { reason: 'idle' } });
    await post(server, sessionId, 'second');
    const events = await collectEvents(server, sessionId, (e) => replies(e).length >= 2);
    expect(replies(events).map((e) => [e.generation, e.data.text])).toEqual([
      [1, 'echo: first'],
      [2, 'echo: second'],
    ]);
  });

  it('stops a turn that shows no heartbeat, after a warning event', async () => {
    const { sessionId } = await newSession(server, { containerConfig: { hardTimeoutMs: 1500 } });
    const msg = await post(server, sessionId, '!sleep 20000');
    const events = await collectEvents(server, sessionId, (e) => lifecycle(e, 'exit').length >= 1);
    const warning = lifecycle(events, 'deadline_warning')[0];
    const exit = lifecycle(events, 'exit')[0]!;
    expect(warning).toBeDefined();
    expect(warning!.seq).toBeLessThan(exit.seq);
    expect(exit.data.reason).toBe('timeout');
    await server.api(`/v1/sessions/${sessionId}/stop`, { method: 'POST' });
    const m = await json<{ attempts: number; status: string }>(
      await server.api(`/v1/sessions/${sessionId}/messages/${msg.id}`),
    );
    expect(m.attempts).toBeGreaterThanOrEqual(1);
  });

  it('reports a container that exceeds its memory limit as oom', async () => {
    const { sessionId } = await newSession(server, { containerConfig: { memoryMb: 96 } });
    await post(server, sessionId, '!oom');
    const events = await collectEvents(server, sessionId, (e) => lifecycle(e, 'exit').length >= 1);
    expect(lifecycle(events, 'exit')[0]!.data.reason).toBe('oom');
    await server.api(`/v1/sessions/${sessionId}/stop`, { method: 'POST' });
  });

  it('records aborted on stop and leaves undelivered work pending until the next wake', async () => {
    const { sessionId } = await newSession(server);
    const msg = await post(server, sessionId, '!busy 30000');
    await collectEvents(server, sessionId, (e) =>
      e.some((x) => x.kind === 'log' && String(x.data.line).includes(`id=${msg.id}`)),
    );
    const stopped = await json<{ status: string; lastExit: { reason: string } }>(
      await server.api(`/v1/sessions/${sessionId}/stop`, { method: 'POST' }),
      200,
    );
    expect(stopped).toMatchObject({ status: 'idle', lastExit: { reason: 'aborted' } });
    const m = await json<{ status: string }>(
      await server.api(`/v1/sessions/${sessionId}/messages/${msg.id}`),
    );
    expect(m.status).toBe('pending');
    expect(await containersOf(sessionId)).toHaveLength(0);
  });

  it('answers a message posted while the session is being stopped, in the next generation', async () => {
    const { sessionId } = await newSession(server);
    const busy = await post(server, sessionId, '!sleep 3000');
    await collectEvents(server, sessionId, (e) =>
      e.some((x) => x.kind === 'log' && String(x.data.line).includes(`id=${busy.id}`)),
    );
    // The agent blocks SIGTERM while sleeping, so the stop takes the whole grace period.
    const stopping = server.api(`/v1/sessions/${sessionId}/stop`, { method: 'POST' });
    await until(async () => {
      const s = await json<{ status: string }>(await server.api(`/v1/sessions/${sessionId}`));
      return s.status === 'stopping' ? s : undefined;
    });
    const late = await post(server, sessionId, 'posted during stop');
    expect((await stopping).status).toBe(200);
    const events = await collectEvents(server, sessionId, (e) =>
      replies(e).some((r) => r.data.inReplyTo === late.id),
    );
    const reply = replies(events).find((r) => r.data.inReplyTo === late.id)!;
    expect(reply).toMatchObject({ generation: 2, data: { text: 'echo: posted during stop' } });
  });

  it('keeps memory bounded through a stdout and stderr flood, and keeps answering', async () => {
    const { sessionId } = await newSession(server);
    const rssBefore = process.memoryUsage().rss;
    await post(server, sessionId, '!flood 20000');
    await post(server, sessionId, 'after the flood');
    const events = await collectEvents(server, sessionId, (e) => replies(e).length >= 2, {
      kinds: 'output',
      timeoutMs: 60_000,
    });
    expect(replies(events).map((e) => e.data.text)).toEqual(['flooded 20000', 'echo: after the flood']);
    const grew = process.memoryUsage().rss - rssBefore;
    expect(grew).toBeLessThan(200 * 1024 * 1024);
    const logs = await json<{ items: unknown[] }>(
      await server.api(`/v1/sessions/${sessionId}/events?kinds=log&limit=500`),
    );
    expect(logs.items.length).toBe(500);
  });

  it('removes orphan containers of its installation at start and never touches foreign ones', async () => {
    // Its own install id: the live server's containers are another installation's, as far as this one knows.
    const otherInstall = `${installId}o`;
    const orphan = `berth-orphan-${otherInstall}`;
    const foreign = `foreign-${otherInstall}`;
    const base = ['run', '-d', '--pull=never', '--entrypoint', '/bin/sleep'];
    started.push(orphan, foreign);
    execFileSync(
      runtime,
      [
        ...base,
        '--name',
        orphan,
        '--label',
        'berth.managed=true',
        '--label',
        `berth.install=${otherInstall}`,
        '--label',
        'berth.session=ses_gone',
        '--label',
        'berth.generation=1',
        image,
        '300',
      ],
      { stdio: 'pipe' },
    );
    execFileSync(runtime, [...base, '--name', foreign, '--label', 'berth.managed=true', image, '300'], {
      stdio: 'pipe',
    });
    const second = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_INSTALL_ID: otherInstall,
    });
    await second.close();
    const names = execFileSync(runtime, ['ps', '-a', '--format', '{{.Names}}'], { encoding: 'utf8' });
    expect(names).not.toContain(orphan);
    expect(names).toContain(foreign);
  });
});
