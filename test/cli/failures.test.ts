import { createServer } from 'node:net';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.ts';
import { berth, type Target } from './run-cli.ts';

/** A loopback port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

const MISSING_SESSION = 'ses_000000000000000000000';

// A server whose runtime cannot start containers: everything here fails before a container would run.
describe('berth CLI exit codes and messages', () => {
  let server: TestServer;
  let target: Target;

  beforeAll(async () => {
    server = await startTestServer('pglite', { BERTH_RUNTIME: 'container' });
    target = { url: server.url, token: server.token };
  });

  afterAll(async () => {
    await server?.close();
  });

  it('answers 3 for an unknown session, printing the problem as code: detail', async () => {
    for (const args of [
      ['sessions', 'show', MISSING_SESSION],
      ['send', MISSING_SESSION, 'hi'],
      ['logs', MISSING_SESSION],
      ['logs', MISSING_SESSION, '-f'],
      ['wake', MISSING_SESSION],
    ]) {
      const r = await berth(target, ...args);
      expect({ args, code: r.code }).toEqual({ args, code: 3 });
      expect(r.stderr).toMatch(/^berth: SESSION_NOT_FOUND: .+/);
      expect(r.stdout).toBe('');
    }
  });

  it('answers 4 for a bad or missing token, 5 for an unreachable server', async () => {
    const bad = await berth({ url: server.url, token: 'not-the-token' }, 'groups', 'ls');
    expect(bad.code).toBe(4);
    expect(bad.stderr).toContain('UNAUTHORIZED: ');
    const badStream = await berth({ url: server.url, token: 'not-the-token' }, 'logs', MISSING_SESSION, '-f');
    // A token no subprotocol can carry goes in the Authorization header instead.
    const spaced = await berth({ url: server.url, token: 'not the token' }, 'logs', MISSING_SESSION, '-f');
    expect(spaced).toMatchObject({ code: 4, stderr: expect.stringContaining('UNAUTHORIZED: ') });
    expect(badStream).toMatchObject({ code: 4, stderr: expect.stringContaining('UNAUTHORIZED: ') });
    expect((await berth({ url: server.url }, 'sessions')).code).toBe(4);

    const url = `http://127.0.0.1:${await closedPort()}`;
    for (const args of [['groups'], ['logs', MISSING_SESSION, '-f']]) {
      const r = await berth({ url, token: 'x' }, ...args);
      expect(r.code).toBe(5);
      expect(r.stderr).toContain(`cannot reach berth at ${url} (ECONNREFUSED)`);
    }
  });

  it('warns when the API key would cross the network over plain http', async () => {
    // An empty message is refused before any request, so nothing is sent to the unresolvable host.
    const remote = await berth({ url: 'http://berth.invalid:3000', token: 'x' }, 'send', MISSING_SESSION, '');
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain('warning: the API key goes to berth.invalid:3000 unencrypted over http');
    const local = await berth({ url: server.url, token: 'x' }, 'send', MISSING_SESSION, '');
    expect(local.stderr).not.toContain('unencrypted');
  });

  it('answers 2 for usage errors without contacting the server', async () => {
    const cases: [string[], RegExp][] = [
      [[], /no command given/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['groups', 'explode'], /unknown command "groups explode"/],
      [['send', MISSING_SESSION], /usage: berth send <session> <text>/],
      [['logs', MISSING_SESSION, '--after', 'ten'], /--after must be a whole number/],
      [['logs', MISSING_SESSION, '--nope'], /Unknown option '--nope'/],
      [['wake', 'chat-42'], /not a session id: "chat-42"/],
      [['groups', 'create', 'x', '--trust', 'root'], /--trust must be member or admin/],
      [['groups', '--url', 'ftp://example'], /must be http\(s\)/],
    ];
    for (const [args, message] of cases) {
      const r = await berth({ url: 'http://127.0.0.1:9' }, ...args);
      expect({ args, code: r.code }).toEqual({ args, code: 2 });
      expect(r.stderr).toMatch(message);
    }
  });

  it('refuses --attach of a missing file before sending anything', async () => {
    const missing = await berth(target, 'send', MISSING_SESSION, 'x', '--attach', '/nonexistent/file.txt');
    expect(missing).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--attach /nonexistent/file.txt: no such file'),
    });
  });

  it('has --help for berth and every command, listing the exit codes', async () => {
    const main = await berth(target, '--help');
    expect(main.code).toBe(0);
    const commands = [...main.stdout.matchAll(/^ {2}([a-z]+(?: [a-z]+)?) {2,}\S/gm)].map((m) => m[1]!);
    expect(commands).toEqual(
      expect.arrayContaining([
        'groups ls',
        'groups create',
        'groups rm',
        'sessions ls',
        'sessions show',
        'send',
        'logs',
      ]),
    );
    expect(commands).toEqual(expect.arrayContaining(['wake', 'stop', 'interrupt', 'doctor']));
    for (const command of commands) {
      const r = await berth(target, ...command.split(' '), '--help');
      expect({ command, code: r.code }).toEqual({ command, code: 0 });
      expect(r.stdout).toContain(`Usage: berth ${command}`);
      expect(r.stdout).toContain('5  the server could not be reached');
    }
  });

  it('runs as `npx berth` in the project, without fetching anything', async () => {
    const root = path.resolve(import.meta.dirname, '../..');
    // --no: npx must find the project's own bin and never install a package of that name.
    const r = await execa('npx', ['--no', 'berth', 'groups', 'ls', '--json'], {
      cwd: root,
      env: { BERTH_URL: target.url, BERTH_TOKEN: target.token },
      reject: false,
    });
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  it('doctor names what is missing with the command that fixes it, and exits non-zero', async () => {
    const r = await berth(target, 'doctor');
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^server\s+ok/m);
    expect(r.stdout).toMatch(/^database\s+ok/m);
    expect(r.stdout).toMatch(/^runtime\s+MISSING\s+\S/m);
    expect(r.stdout).toMatch(
      /^To fix:\n(?:.*\n)*\s+runtime: install podman \(apt-get install podman\) or docker/m,
    );
    // --json exits 1 too, with the report on stdout.
    const json = JSON.parse((await berth(target, 'doctor', '--json')).stdout) as {
      ok: boolean;
      checks: { name: string; ok: boolean; fix?: string }[];
    };
    expect(json.ok).toBe(false);
    expect(json.checks.find((c) => c.name === 'runtime')).toMatchObject({
      ok: false,
      fix: expect.stringContaining('podman'),
    });

    const badToken = await berth({ url: server.url, token: 'wrong' }, 'doctor');
    expect(badToken.code).toBe(1);
    expect(badToken.stdout).toMatch(/^token\s+MISSING\s+refused \(from BERTH_TOKEN\): UNAUTHORIZED/m);
    expect(badToken.stdout).toContain('token: export BERTH_TOKEN=$(cat data/api-token)');

    const url = `http://127.0.0.1:${await closedPort()}`;
    const down = await berth({ url, token: 'x' }, 'doctor');
    expect(down.code).toBe(5);
    expect(down.stdout).toMatch(/^server\s+MISSING\s+not answering at .*ECONNREFUSED/m);
    expect(down.stdout).toContain('server: start it: npm start');
    // The server cannot speak for this machine, so doctor looks itself.
    expect(down.stdout).toMatch(/^local runtime\s+(ok|MISSING)\s+/m);
    expect(down.stdout).toMatch(/^local credentials\s+MISSING\s+no ANTHROPIC_API_KEY/m);
    expect(down.stdout).toContain('local credentials: set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN');
  });
});
