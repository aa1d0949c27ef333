import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/db.ts';
import { type FakeModel, startFakeModel } from '../support/fake-model.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { ask, collectEvents, lifecycle, newSession, until } from '../support/sessions.ts';

const REAL_KEY = 'sk-ant-real-key-never-in-a-container';

describe.each(runtimesUnderTest())('what an agent can reach on %s', (runtime) => {
  let server: TestServer;
  let model: FakeModel;
  let shared: string;
  let project: string;

  beforeAll(async () => {
    const image = await ensureAgentImage(runtime);
    model = await startFakeModel({ expectedKey: REAL_KEY });
    const root = tempDir('berth-iso-');
    shared = path.join(root, 'shared');
    project = path.join(root, 'project');
    mkdirSync(shared);
    mkdirSync(project);
    writeFileSync(path.join(shared, 'notes.txt'), 'shared notes');
    writeFileSync(path.join(project, '.env'), 'SECRET=do-not-leak');
    writeFileSync(path.join(project, 'README'), 'project readme');
    const allowlist = path.join(root, 'allowlist.json');
    writeFileSync(allowlist, JSON.stringify({ allowedRoots: [{ path: shared, allowReadWrite: true }] }));
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_STOP_GRACE_MS: '1000',
      BERTH_LEASE_MS: '1500',
      BERTH_PROXY_UPSTREAM: model.url,
      ANTHROPIC_API_KEY: REAL_KEY,
      BERTH_MOUNT_ALLOWLIST: allowlist,
      BERTH_PROJECT_ROOT: project,
    });
  });

  afterAll(async () => {
    await server?.close();
    await model?.close();
  });

  it('calls the model through the proxy with a placeholder; the real key stays outside', async () => {
    const { sessionId } = await newSession(server);
    const answer = await ask(
      server,
      sessionId,
      '!fetch POST /v1/messages {"model":"m","max_tokens":8,"messages":[]}',
    );
    expect(answer).toMatch(/^200\b/);
    const upstream = model.requests.at(-1)!;
    expect(upstream.headers['x-api-key']).toBe(REAL_KEY);

    const env = JSON.parse(await ask(server, sessionId, '!env')) as Record<string, string>;
    expect(env.ANTHROPIC_API_KEY).toMatch(/^berth-ph-/);
    expect(JSON.stringify(env)).not.toContain(REAL_KEY);
    const wake = lifecycle(
      await collectEvents(server, sessionId, (e) => lifecycle(e, 'wake').length > 0),
      'wake',
    );
    const environ = execFileSync(
      runtime,
      ['exec', String(wake[0]!.data.containerName), 'cat', '/proc/1/environ'],
      {
        encoding: 'utf8',
      },
    );
    expect(environ).toContain('ANTHROPIC_API_KEY=berth-ph-');
    expect(environ).not.toContain(REAL_KEY);
    // The frame nonce comes on stdin: no process of the agent's uid can read it from an environment.
    expect(environ).not.toContain('NONCE');

    type Usage = { proxyUsage: { requests: number; bytesIn: number; bytesOut: number } };
    // Saved while the run lives (with each lease renewal), not only when it ends.
    const running = await until(async () => {
      const s = (await (await server.api(`/v1/sessions/${sessionId}`)).json()) as Usage & { status: string };
      return s.proxyUsage.requests > 0 ? s : undefined;
    });
    expect(running.status).toBe('running');
    expect(running.proxyUsage.requests).toBe(1);
    expect(running.proxyUsage.bytesIn).toBeGreaterThan(0);
    expect(running.proxyUsage.bytesOut).toBeGreaterThan(0);
    await server.api(`/v1/sessions/${sessionId}/stop`, { method: 'POST' });
    const after = (await (await server.api(`/v1/sessions/${sessionId}`)).json()) as Usage;
    expect(after.proxyUsage).toEqual(running.proxyUsage);
  });

  it('runs the agent as the dedicated uid, which no host account has, and hands it the session folder', async () => {
    const uid = server.config.containerUid;
    const accounts = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .map((line) => Number(line.split(':')[2]));
    expect(accounts).not.toContain(uid);
    const { groupId, sessionId } = await newSession(server);
    const status = await ask(server, sessionId, '!read /proc/self/status');
    expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
    expect(status).toMatch(new RegExp(`^Gid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
    expect(await ask(server, sessionId, '!write /workspace/mine.txt written')).toBe('ok');
    const written = statSync(path.join(server.dataDir, 'sessions', groupId, sessionId, 'mine.txt'));
    expect([written.uid, written.gid]).toEqual([uid, uid]);
  });

  it('a revoked placeholder is refused after its run ends', async () => {
    const { sessionId } = await newSession(server);
    const env = JSON.parse(await ask(server, sessionId, '!env')) as Record<string, string>;
    await server.api(`/v1/sessions/${sessionId}/stop`, { method: 'POST' });
    const seen = model.requests.length;
    const { host, port } = server.parts.proxy!.address;
    const res = await fetch(`http://${host}:${port}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': env.ANTHROPIC_API_KEY!, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(401);
    expect(model.requests.length).toBe(seen);
  });

  it('a member group reads its mounts read-only and sees no other folder', async () => {
    const other = await newSession(server);
    await ask(server, other.sessionId, '!write /workspace/group/mine.txt other group');
    const { sessionId } = await newSession(server, {
      containerConfig: { mounts: [{ hostPath: shared, containerPath: 'shared' }] },
    });
    expect(await ask(server, sessionId, '!write /workspace/own.txt hello')).toBe('ok');
    expect(await ask(server, sessionId, '!write /workspace/group/memory.txt remember')).toBe('ok');
    expect(await ask(server, sessionId, '!write /workspace/global/x.txt no')).toBe('EROFS');
    expect(await ask(server, sessionId, '!read /workspace/extra/shared/notes.txt')).toBe('shared notes');
    expect(await ask(server, sessionId, '!write /workspace/extra/shared/x.txt no')).toBe('EROFS');
    expect(await ask(server, sessionId, '!read /workspace/group/mine.txt')).toBe('ENOENT');
    expect(await ask(server, sessionId, '!ls /workspace/project')).toBe('ENOENT');
    expect(await ask(server, sessionId, '!write /etc/x no')).toBe('EROFS');
    const listing = await ask(server, sessionId, '!ls /workspace');
    expect(listing.split('\n')).not.toContain('project');
  });

  it('an admin group sees the project read-only with .env empty', async () => {
    const { sessionId } = await newSession(server, { trust: 'admin' });
    expect(await ask(server, sessionId, '!read /workspace/project/README')).toBe('project readme');
    expect(await ask(server, sessionId, '!read /workspace/project/.env')).toBe('');
    expect(await ask(server, sessionId, '!write /workspace/project/x no')).toBe('EROFS');
    expect(await ask(server, sessionId, '!write /workspace/global/admin.txt yes')).toBe('ok');
  });
});
