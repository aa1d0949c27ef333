import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.ts';
import { json } from '../support/sessions.ts';
import { berth, berthJson, type Target } from './run-cli.ts';

/** Retitles the window, clears the screen, overwrites the line, and a C1 CSI: all acted on by terminals. */
const HOSTILE = 'ops\x1b]0;owned\x07\x1b[2J\rfake\x9b31m';

// Names, agent output and server messages are untrusted: none of their control characters reach the terminal.
describe('berth CLI output on a terminal', () => {
  let server: TestServer;
  let target: Target;

  beforeAll(async () => {
    server = await startTestServer('pglite', { BERTH_RUNTIME: 'container' });
    target = { url: server.url, token: server.token };
    const res = await server.api('/v1/groups', { method: 'POST', json: { name: HOSTILE, folder: 'tty' } });
    await json(res, 201);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('shows control characters of a name as visible \\uXXXX escapes', async () => {
    const listed = await berth(target, 'groups', 'ls');
    expect(listed.code).toBe(0);
    const controls = [...listed.stdout].filter((c) => c !== '\n' && c !== '\t' && /\p{Cc}/u.test(c));
    expect(controls).toEqual([]);
    expect(listed.stdout).toContain('ops\\u001b]0;owned\\u0007\\u001b[2J\\u000dfake\\u009b31m');
  });

  it('keeps --json output parseable and equal to what the server holds', async () => {
    const groups = await berthJson<{ folder: string; name: string }[]>(target, 'groups', 'ls');
    expect(groups.find((g) => g.folder === 'tty')?.name).toBe(HOSTILE);
  });
});
