import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createImageBuild, getImageBuild, markBuildRunning } from '../../src/store/image-builds.ts';
import { startEchoServer } from '../support/agent-server.ts';
import { call, expectProblem, type Group, type ImageBuild, type Page } from '../support/contract.ts';
import { tempDir } from '../support/db.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import type { TestServer } from '../support/server.ts';
import { startService } from '../support/service.ts';
import { collectEvents, lifecycle, newSession, post, replies, until } from '../support/sessions.ts';

const PACKAGE = 'is-number@7.0.0';

describe.each(runtimesUnderTest())('per-group images on %s', (runtime) => {
  let server: TestServer;
  const built = new Set<string>();

  const imageExists = (tag: string) => {
    try {
      execFileSync(runtime, ['image', 'inspect', tag], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };

  const requestImage = (groupId: string, json: unknown) =>
    call<ImageBuild>(server, 'POST', `/v1/groups/${groupId}/image`, { json });

  /** Polls the build until it has ended. */
  const settled = (groupId: string, buildId: string) =>
    until(async () => {
      const { body } = await call<ImageBuild>(server, 'GET', `/v1/groups/${groupId}/image/builds/${buildId}`);
      return body.status === 'queued' || body.status === 'running' ? undefined : body;
    }, 240_000);

  /** Every frame of a build's output stream until the server closes it. */
  const watchOutput = (groupId: string, buildId: string) =>
    new Promise<{
      frames: Array<{ type: string; line?: string; status?: string; error?: string | null }>;
      code: number;
    }>((resolve, reject) => {
      const ws = new WebSocket(
        `${server.url.replace(/^http/, 'ws')}/v1/groups/${groupId}/image/builds/${buildId}/output`,
        { headers: { authorization: `Bearer ${server.token}` } },
      );
      const frames: Array<{ type: string; line?: string; status?: string; error?: string | null }> = [];
      ws.on('message', (raw) => frames.push(JSON.parse(String(raw))));
      ws.on('close', (code) => resolve({ frames, code }));
      ws.on('error', reject);
    });

  beforeAll(async () => {
    server = await startEchoServer(runtime, {
      BERTH_STOP_GRACE_MS: '1000',
    });
  });

  afterAll(async () => {
    await server?.close();
    for (const tag of built) execFileSync(runtime, ['image', 'rm', '-f', tag], { stdio: 'pipe' });
  });

  it('builds an npm package into a derived image that the group wakes on, and reuses it', async () => {
    const { groupId, sessionId } = await newSession(server);
    const started = await requestImage(groupId, { npm: [PACKAGE] });
    expect(started.res.status).toBe(202);
    expect(started.res.headers.get('location')).toBe(`/v1/groups/${groupId}/image/builds/${started.body.id}`);
    expect(started.body).toMatchObject({ groupId, status: 'queued', packages: { apt: [], npm: [PACKAGE] } });
    expect(started.body.tag).toMatch(/^berth-group-g[a-z0-9]+:[0-9a-f]{16}$/);
    built.add(started.body.tag);

    const live = watchOutput(groupId, started.body.id);
    const done = await settled(groupId, started.body.id);
    const watched = await live;
    expect(watched.code).toBe(1000);
    expect(watched.frames.at(-1)).toEqual({ type: 'end', status: 'succeeded', error: null });
    const lines = watched.frames.filter((f) => f.type === 'line').map((f) => f.line);
    expect(lines.some((l) => l?.startsWith('$ npm install') && l.includes(PACKAGE))).toBe(true);
    expect(`${lines.join('\n')}\n`).toBe(done.outputTail);
    // An ended build answers with its stored tail and its end at once.
    const later = await watchOutput(groupId, started.body.id);
    expect(later.frames).toEqual(watched.frames);
    expect(done, done.outputTail).toMatchObject({ status: 'succeeded', error: null, reused: false });
    expect(await server.parts.metrics.scrape()).toMatch(
      /^berth_image_builds_total\{result="succeeded"\} 1$/m,
    );
    expect(done.durationMs).toBeGreaterThanOrEqual(0);
    expect(done.outputTail).toContain('npm install');
    expect(imageExists(done.tag)).toBe(true);
    const group = await call<Group>(server, 'GET', `/v1/groups/${groupId}`);
    expect(group.body.containerConfig.image).toBe(done.tag);

    await post(server, sessionId, '!read /opt/berth/node_modules/is-number/package.json');
    const events = await collectEvents(
      server,
      sessionId,
      (e) => replies(e).length > 0 && lifecycle(e, 'wake').length > 0,
      { timeoutMs: 60_000 },
    );
    expect(lifecycle(events, 'wake')[0]!.data.image).toBe(done.tag);
    const text = String(replies(events)[0]!.data.text);
    expect(JSON.parse(text.slice(text.indexOf('{')))).toMatchObject({ name: 'is-number', version: '7.0.0' });

    const again = await requestImage(groupId, { npm: [PACKAGE, PACKAGE] });
    expect(again.res.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'succeeded', reused: true, tag: done.tag });
    expect(again.body.id).not.toBe(done.id);
    // The group's builds, newest first, a page at a time.
    const builds = `/v1/groups/${groupId}/image/builds`;
    const first = await call<Page<ImageBuild>>(server, 'GET', `${builds}?limit=1`);
    expect(first.body.items.map((b) => b.id)).toEqual([again.body.id]);
    const rest = await call<Page<ImageBuild>>(
      server,
      'GET',
      `${builds}?limit=1&cursor=${first.body.nextCursor}`,
    );
    expect(rest.body).toMatchObject({ items: [{ id: done.id, status: 'succeeded' }], nextCursor: null });

    const cleared = await call(server, 'DELETE', `/v1/groups/${groupId}/image`);
    expect(cleared.res.status).toBe(204);
    const after = await call<Group>(server, 'GET', `/v1/groups/${groupId}`);
    expect(after.body.containerConfig).not.toHaveProperty('image');
  });

  it('allows one build per group and cancels a running one without leaving its image', async () => {
    const { groupId } = await newSession(server, { containerConfig: { memoryMb: 256 } });
    const first = await requestImage(groupId, { npm: ['is-number@6.0.0'] });
    expect(first.res.status).toBe(202);
    built.add(first.body.tag);
    const second = await requestImage(groupId, { npm: ['is-number@5.0.0'] });
    expectProblem(second.res, second.body, 409, 'IMAGE_BUILD_IN_PROGRESS');

    const cancel = await call<ImageBuild>(
      server,
      'DELETE',
      `/v1/groups/${groupId}/image/builds/${first.body.id}`,
    );
    expect(cancel.res.status).toBe(200);
    expect(cancel.body).toMatchObject({ status: 'cancelled', error: 'cancelled' });
    expect(cancel.body.finishedAt).not.toBeNull();
    expect(await server.parts.metrics.scrape()).toMatch(
      /^berth_image_builds_total\{result="cancelled"\} 1$/m,
    );
    expect(imageExists(first.body.tag)).toBe(false);
    const group = await call<Group>(server, 'GET', `/v1/groups/${groupId}`);
    expect(group.body.containerConfig).toEqual({ memoryMb: 256 });

    const again = await call(server, 'DELETE', `/v1/groups/${groupId}/image/builds/${first.body.id}`);
    expectProblem(again.res, again.body, 409, 'IMAGE_BUILD_FINISHED');
  });

  it('answers bad requests with problem+json before anything runs', async () => {
    const { groupId } = await newSession(server);
    const bad = await requestImage(groupId, {
      apt: ['--privileged', 'curl', 'foo; rm -rf /'],
      npm: ['$(id)', 'pkg@latest', 'git+ssh://git@github.com/x/y.git', 'file:../x', PACKAGE],
    });
    expectProblem(bad.res, bad.body, 400, 'VALIDATION_FAILED');
    const errors = (bad.body as unknown as { errors: Array<{ path: string }> }).errors;
    expect(errors.map((e) => e.path)).toEqual([
      'body/apt/0',
      'body/apt/2',
      'body/npm/0',
      'body/npm/1',
      'body/npm/2',
      'body/npm/3',
    ]);
    for (const json of [
      {},
      { apt: [], npm: [] },
      { npm: Array(33).fill('x1') },
      { pip: ['x'] },
      { npm: 'x' },
    ]) {
      const r = await requestImage(groupId, json);
      expectProblem(r.res, r.body, 400, 'VALIDATION_FAILED');
    }
    const unknown = await requestImage('grp_000000000000000000000', { npm: [PACKAGE] });
    expectProblem(unknown.res, unknown.body, 404, 'GROUP_NOT_FOUND');
    const noBuild = await call(server, 'GET', `/v1/groups/${groupId}/image/builds/bld_000000000000000000000`);
    expectProblem(noBuild.res, noBuild.body, 404, 'IMAGE_BUILD_NOT_FOUND');
  });
});

describe('image builds across a restart', () => {
  it("marks builds a dead predecessor left running as failed, and leaves other hosts' builds alone", async () => {
    const dataDir = tempDir('berth-image-restart-');
    const env = { BERTH_DATA_DIR: dataDir, BERTH_RUNTIME: 'container' as const };
    const first = await startService(env);
    const packages = { apt: [], npm: [PACKAGE] };
    const [mine, theirs] = await Promise.all(
      ['a', 'b'].map(async (folder) => {
        const g = await call<Group>(first, 'POST', '/v1/groups', { json: { name: folder, folder } });
        return g.body.id;
      }),
    );
    const orphan = await createImageBuild(first.store.db, {
      groupId: mine!,
      tag: 'berth-group-a:0000000000000000',
      packages,
      ownerInstance: first.parts.instanceId,
    });
    await markBuildRunning(first.store.db, orphan.id);
    const elsewhere = await createImageBuild(first.store.db, {
      groupId: theirs!,
      tag: 'berth-group-b:0000000000000000',
      packages,
      ownerInstance: 'otherhost0-00000000',
    });
    await first.close();

    const second = await startService(env);
    try {
      expect(await getImageBuild(second.store.db, mine!, orphan.id)).toMatchObject({
        status: 'failed',
        error: 'interrupted by restart',
      });
      expect((await getImageBuild(second.store.db, theirs!, elsewhere.id)).status).toBe('queued');
      const { res, body } = await call<ImageBuild>(
        second,
        'GET',
        `/v1/groups/${mine}/image/builds/${orphan.id}`,
      );
      expect(res.status).toBe(200);
      expect(body.finishedAt).not.toBeNull();
    } finally {
      await second.close();
    }
  });
});
