import { createHash } from 'node:crypto';
import {
  chownSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startEchoServer } from '../support/agent-server.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import type { TestServer } from '../support/server.ts';
import {
  type ApiEvent,
  ask,
  collectEvents,
  json,
  lifecycle,
  newSession,
  post,
  replies,
} from '../support/sessions.ts';

const AGENT_UID = loadConfig({}).containerUid;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

interface Delivered {
  id: string;
  name: string;
  size: number;
  contentType: string;
  sha256: string;
}

describe.each(runtimesUnderTest())('attachments and outbox files with real containers on %s', (runtime) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startEchoServer(runtime, {
      BERTH_STOP_GRACE_MS: '1000',
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  const folder = (s: { groupId: string; sessionId: string }) =>
    path.join(server.dataDir, 'sessions', s.groupId, s.sessionId);

  /** Sends one message and returns its reply event and everything up to it. */
  async function turn(sessionId: string, text: string): Promise<{ reply: ApiEvent; events: ApiEvent[] }> {
    const msg = await post(server, sessionId, text);
    const events = await collectEvents(server, sessionId, (e) =>
      replies(e).some((r) => r.stream === 'reply' && r.data.inReplyTo === msg.id),
    );
    return { reply: replies(events).find((r) => r.data.inReplyTo === msg.id)!, events };
  }

  async function download(sessionId: string, fileId: string): Promise<Buffer> {
    const res = await server.api(`/v1/sessions/${sessionId}/files/${fileId}`);
    expect(res.status).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  }

  it('attaches what the agent writes to outbox/ to that reply; the download matches and later turns cannot alter it', async () => {
    const s = await newSession(server);
    const { reply } = await turn(s.sessionId, '!write /workspace/outbox/report.txt quarterly numbers: 42');
    expect(reply.data.text).toBe('ok');
    const files = reply.data.files as Delivered[];
    expect(files).toEqual([
      {
        id: expect.any(String),
        name: 'report.txt',
        size: 21,
        contentType: 'text/plain',
        sha256: sha('quarterly numbers: 42'),
      },
    ]);
    expect((await download(s.sessionId, files[0]!.id)).toString()).toBe('quarterly numbers: 42');
    // Moved out of the outbox: the next turn starts empty, and what it writes is a new file.
    expect(existsSync(path.join(folder(s), 'outbox', 'report.txt'))).toBe(false);
    const next = await turn(s.sessionId, '!write /workspace/outbox/report.txt rewritten');
    const second = (next.reply.data.files as Delivered[])[0]!;
    expect(second.id).not.toBe(files[0]!.id);
    expect((await download(s.sessionId, files[0]!.id)).toString()).toBe('quarterly numbers: 42');
    expect((await download(s.sessionId, second.id)).toString()).toBe('rewritten');
  });

  it('does not attach symlinks out of the outbox, hard links or directories: each is a file_skipped event', async () => {
    const s = await newSession(server);
    const other = await newSession(server);
    expect(await ask(server, other.sessionId, '!write /workspace/secret.txt other')).toBe('ok');
    expect(await ask(server, s.sessionId, 'hello')).toBe('echo: hello');
    const outbox = path.join(folder(s), 'outbox');
    const outside = path.join(server.dataDir, 'outside.txt');
    writeFileSync(outside, 'outside the workspace');
    symlinkSync('/etc/passwd', path.join(outbox, 'passwd'));
    symlinkSync('../../', path.join(outbox, 'up'));
    symlinkSync(path.join(folder(other), 'secret.txt'), path.join(outbox, 'theirs.txt'));
    linkSync(outside, path.join(outbox, 'hard.txt'));
    mkdirSync(path.join(outbox, 'adir'));
    if (process.getuid?.() === 0) chownSync(path.join(outbox, 'adir'), AGENT_UID, AGENT_UID);
    const { reply, events } = await turn(s.sessionId, '!write /workspace/outbox/ok.txt fine');
    expect((reply.data.files as Delivered[]).map((f) => f.name)).toEqual(['ok.txt']);
    const skipped = lifecycle(events, 'file_skipped').map((e) => `${e.data.name}: ${e.data.reason}`);
    expect(skipped.sort()).toEqual([
      'adir: directory',
      'hard.txt: hard link',
      'passwd: symlink',
      'theirs.txt: symlink',
      'up: symlink',
    ]);
    const { items } = await json<{ items: ApiEvent[] }>(
      await server.api(`/v1/sessions/${s.sessionId}/events?kinds=output`),
    );
    expect(JSON.stringify(items)).not.toContain('root:x:0:0');
  });

  it('an attachment reaches the agent: listed in its message and readable in the container', async () => {
    const s = await newSession(server);
    const content = `line one\nline two ${s.sessionId}\n`;
    const msg = await json<{ id: string }>(
      await server.api(`/v1/sessions/${s.sessionId}/messages`, {
        method: 'POST',
        json: {
          text: 'see attached',
          attachments: [{ name: 'in.txt', data: Buffer.from(content).toString('base64') }],
        },
      }),
      202,
    );
    const where = `/workspace/inbox/${msg.id}/in.txt`;
    const events = await collectEvents(server, s.sessionId, (e) =>
      replies(e).some((r) => r.data.inReplyTo === msg.id),
    );
    const echoed = String(replies(events).find((r) => r.data.inReplyTo === msg.id)!.data.text);
    expect(echoed).toBe(`echo: see attached\n\nAttached files:\n- ${where} (${content.length} bytes)`);
    expect(await ask(server, s.sessionId, `!read ${where}`)).toBe(content);
    expect(readFileSync(path.join(folder(s), 'inbox', msg.id, 'in.txt'), 'utf8')).toBe(content);
  });
});
