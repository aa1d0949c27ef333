import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, expectProblem, type Group, type Problem } from '../support/contract.ts';
import { tempDir } from '../support/db.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { ask, collectEvents, lifecycle, newSession, post } from '../support/sessions.ts';

const REAL_KEY = 'sk-ant-real-key-of-the-host';
const HOST_TOKEN = 'berth-api-token-of-the-host';
const GROUP_SECRET = 'group-secret-for-the-container-only';

/**
 * A stand-in for the runtime binary, first on berth's PATH: a real shell script that records its
 * environment and argv, then runs the real CLI, so sessions still work end to end.
 */
function recordingRuntime(runtime: string): { bin: string; dumps: string } {
  const real = execFileSync('sh', ['-c', `command -v ${runtime}`], { encoding: 'utf8' }).trim();
  const bin = tempDir('berth-fake-bin-');
  const dumps = tempDir('berth-cli-env-');
  const script = path.join(bin, runtime);
  writeFileSync(
    script,
    `#!/bin/sh\nenv > "${dumps}/env.$$"\nprintf '%s\\n' "$@" > "${dumps}/argv.$$"\nexec "${real}" "$@"\n`,
  );
  chmodSync(script, 0o755);
  return { bin, dumps };
}

describe.each(runtimesUnderTest())('group env reaches the container only, on %s', (runtime) => {
  let server: TestServer;
  let dumps: string;
  const saved = { key: process.env.ANTHROPIC_API_KEY, token: process.env.BERTH_API_TOKEN };

  beforeAll(async () => {
    const image = await ensureAgentImage(runtime);
    const fake = recordingRuntime(runtime);
    dumps = fake.dumps;
    // berth's own process holds secrets in its environment, as in production.
    process.env.ANTHROPIC_API_KEY = REAL_KEY;
    process.env.BERTH_API_TOKEN = HOST_TOKEN;
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_STOP_GRACE_MS: '1000',
      ANTHROPIC_API_KEY: REAL_KEY,
      PATH: `${fake.bin}:${process.env.PATH}`,
    });
  });

  afterAll(async () => {
    await server?.close();
    for (const [name, value] of [
      ['ANTHROPIC_API_KEY', saved.key],
      ['BERTH_API_TOKEN', saved.token],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it.each([
    ['_CONTAINERS_USERNS_CONFIGURED', '1'],
    ['NOTIFY_SOCKET', '/run/host.sock'],
    ['LD_PRELOAD', '/workspace/x.so'],
    ['DOCKER_HOST', 'tcp://127.0.0.1:1'],
    ['NODE_OPTIONS', '--require /workspace/x.js'],
    ['podman_userns', 'host'],
  ])('refuses env %s at create and update with 400 ENV_NAME_REFUSED', async (name, value) => {
    const folder = `env${Math.random().toString(36).slice(2, 10)}`;
    const created = await call<Problem>(server, 'POST', '/v1/groups', {
      json: { name: folder, folder, containerConfig: { env: { [name]: value } } },
    });
    expectProblem(created.res, created.body, 400, 'ENV_NAME_REFUSED');
    expect(created.body.detail).toContain(name);
    const ok = await call<Group>(server, 'POST', '/v1/groups', { json: { name: folder, folder } });
    const patched = await call<Problem>(server, 'PATCH', `/v1/groups/${ok.body.id}`, {
      json: { containerConfig: { env: { [name]: value } } },
    });
    expectProblem(patched.res, patched.body, 400, 'ENV_NAME_REFUSED');
  });

  it('the CLI gets neither berth secrets nor group env; the container gets group env; the env file is gone', async () => {
    const { sessionId } = await newSession(server, {
      containerConfig: { env: { GROUP_SECRET, SPACED: ' a = "b" #c ' } },
    });
    const env = JSON.parse(await ask(server, sessionId, '!env')) as Record<string, string>;
    expect(env.GROUP_SECRET).toBe(GROUP_SECRET);
    expect(env.SPACED).toBe(' a = "b" #c ');
    expect(env.ANTHROPIC_API_KEY).toMatch(/^berth-ph-/);

    const files = readdirSync(dumps);
    const runArgv = files
      .filter((f) => f.startsWith('argv.'))
      .map((f) => readFileSync(path.join(dumps, f), 'utf8'))
      .find((a) => a.startsWith('run\n') && a.includes(sessionId));
    expect(runArgv).toContain('--env-file');
    expect(runArgv).not.toContain(GROUP_SECRET);
    expect(runArgv).not.toContain('GROUP_SECRET');
    const cliEnvs = files
      .filter((f) => f.startsWith('env.'))
      .map((f) => readFileSync(path.join(dumps, f), 'utf8'));
    expect(cliEnvs.length).toBeGreaterThan(1);
    for (const cliEnv of cliEnvs) {
      for (const secret of [REAL_KEY, HOST_TOKEN, server.token, GROUP_SECRET, env.ANTHROPIC_API_KEY!])
        expect(cliEnv).not.toContain(secret);
      expect(cliEnv).not.toMatch(/^(BERTH_|ANTHROPIC_|DATABASE_URL)/m);
    }
    // The CLI has read its env file and replied: no run directory is left.
    // Env files live in env-* directories there (proxy socket directories sit beside them).
    expect(readdirSync(path.join(server.dataDir, 'run')).filter((n) => n.startsWith('env-'))).toEqual([]);
  });

  it('the memory limit holds with group env set: allocating past it ends the run as oom', async () => {
    const { sessionId } = await newSession(server, {
      containerConfig: { memoryMb: 96, env: { GROUP_SECRET } },
    });
    await post(server, sessionId, '!oom');
    const events = await collectEvents(server, sessionId, (e) => lifecycle(e, 'exit').length >= 1);
    expect(lifecycle(events, 'exit')[0]!.data.reason).toBe('oom');
  });
});
