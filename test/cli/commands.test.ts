import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoServer } from '../support/agent-server.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import type { TestServer } from '../support/server.ts';
import { type ApiEvent, collectEvents, json, newSession, post, replies } from '../support/sessions.ts';
import { berth, berthJson, spawnBerth, type Target, watch } from './run-cli.ts';

const runtime = runtimesUnderTest()[0];

describe.runIf(runtime)(`berth CLI against a real server and container (${runtime})`, () => {
  let server: TestServer;
  let target: Target;

  beforeAll(async () => {
    server = await startEchoServer(runtime!);
    target = { url: server.url, token: server.token };
  });

  afterAll(async () => {
    await server?.close();
  });

  it('creates, lists and removes groups, by folder or id, in tables and JSON', async () => {
    const created = await berth(target, 'groups', 'create', 'cli-crm', '--name', 'CRM team');
    expect(created).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^created group grp_\w+ \(cli-crm\)/),
    });
    const again = await berth(target, 'groups', 'create', 'cli-crm');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('GROUP_FOLDER_TAKEN: ');

    const table = await berth(target, 'groups', 'ls');
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+FOLDER\s+NAME\s+TRUST\s+CREATED$/);
    const row = lines.find((l) => l.includes('cli-crm'))!;
    // Aligned: every column starts where its header does.
    expect(row.indexOf('cli-crm')).toBe(lines[0]!.indexOf('FOLDER'));
    expect(row.indexOf('CRM team')).toBe(lines[0]!.indexOf('NAME'));

    const groups = await berthJson<{ id: string; folder: string; trust: string }[]>(target, 'groups');
    const group = groups.find((g) => g.folder === 'cli-crm')!;
    expect(group).toMatchObject({ id: expect.stringMatching(/^grp_/), trust: 'member', name: 'CRM team' });

    const other = await berthJson<{ id: string }>(target, 'groups', 'create', 'cli-ops', '--trust', 'admin');
    expect(await berth(target, 'groups', 'rm', 'cli-crm')).toMatchObject({ code: 0 });
    expect(await berthJson(target, 'groups', 'rm', other.id)).toEqual({ id: other.id, deleted: true });
    const left = await berthJson<{ folder: string }[]>(target, 'groups', 'ls');
    expect(left.map((g) => g.folder)).not.toContain('cli-crm');
    expect(left.map((g) => g.folder)).not.toContain('cli-ops');
    expect(await berth(target, 'groups', 'rm', 'cli-crm')).toMatchObject({
      code: 3,
      stderr: expect.stringContaining('GROUP_NOT_FOUND'),
    });
  });

  it('creates sessions in a group by folder, lists and shows them', async () => {
    await berth(target, 'groups', 'create', 'cli-chat');
    const created = await berth(target, 'sessions', 'create', 'cli-chat', '--key', 'chat-7');
    expect(created.code).toBe(0);
    const sessionId = created.stdout.trim();
    expect(sessionId).toMatch(/^ses_[0-9a-z]{21}$/);
    // Get-or-create: the same key answers the same session.
    expect((await berth(target, 'sessions', 'create', 'cli-chat', '--key', 'chat-7')).stdout.trim()).toBe(
      sessionId,
    );

    const listed = await berth(target, 'sessions', 'ls', '--group', 'cli-chat');
    expect(listed.stdout).toMatch(/^ID\s+GROUP\s+KEY\s+STATUS\s+GEN\s+LAST EXIT\s+LAST ACTIVITY\n/);
    expect(listed.stdout).toMatch(new RegExp(`${sessionId}\\s+cli-chat\\s+chat-7\\s+idle\\s+0\\s+-\\s+-`));
    const shown = await berthJson<Record<string, unknown>>(target, 'sessions', 'show', sessionId);
    expect(shown).toMatchObject({ id: sessionId, externalKey: 'chat-7', status: 'idle', generation: 0 });
    expect((await berth(target, 'sessions', 'show', sessionId)).stdout).toMatch(/^status\s+idle$/m);
  });

  it('send --wait prints the reply to that message; --json gives the message with its replies', async () => {
    const { sessionId } = await newSession(server);
    const sent = await berth(target, 'send', sessionId, 'hello from the shell', '--wait');
    expect(sent).toMatchObject({ code: 0, stdout: 'echo: hello from the shell' });

    const answered = await berthJson<{ id: string; status: string; replies: ApiEvent[] }>(
      target,
      'send',
      sessionId,
      'second',
      '--wait',
    );
    expect(answered.status).toBe('done');
    expect(answered.replies.map((r) => [r.kind, r.data.text, r.data.inReplyTo])).toEqual([
      ['output', 'echo: second', answered.id],
    ]);

    const queued = await berthJson<{ id: string; seq: number; status: string }>(
      target,
      'send',
      sessionId,
      'third',
    );
    expect(queued).toMatchObject({ seq: 3, id: expect.stringMatching(/^msg_/) });
    // A message the agent fails: exit 1 with the reason.
    const failed = await berth(target, 'send', sessionId, '!nosuchhook', '--wait');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/failed: .*unknown test hook !nosuchhook/);
  });

  it('send --attach puts the file in the inbox, where the agent reads it', async () => {
    const { sessionId } = await newSession(server);
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-cli-attach-'));
    const file = path.join(dir, 'figures.csv');
    writeFileSync(file, 'a,b\n1,2\n');
    const sent = await berthJson<{ id: string; text: string }>(
      target,
      'send',
      sessionId,
      'see file',
      '--attach',
      file,
    );
    const inbox = `/workspace/inbox/${sent.id}/figures.csv`;
    expect(sent.text).toContain(`${inbox} (8 bytes, text/csv)`);
    const read = await berth(target, 'send', sessionId, `!read ${inbox}`, '--wait');
    expect(read).toMatchObject({ code: 0, stdout: 'a,b\n1,2\n' });
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs prints stored events after a seq, filtered by kind, as lines or NDJSON', async () => {
    const { sessionId } = await newSession(server);
    await berth(target, 'send', sessionId, 'one', '--wait');
    const all = await collectEvents(server, sessionId, (e) => replies(e).length >= 1);
    const reply = replies(all)[0]!;

    const lines = await berth(
      target,
      'logs',
      sessionId,
      '--after',
      String(reply.seq - 1),
      '--kinds',
      'output',
    );
    expect(lines.code).toBe(0);
    expect(lines.stdout.trim()).toMatch(
      new RegExp(`^\\s*${reply.seq}\\s+\\d\\d:\\d\\d:\\d\\d\\s+output/reply\\s+echo: one$`),
    );

    const ndjson = await berth(target, 'logs', sessionId, '--json');
    const events = ndjson.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ApiEvent);
    const stored = await json<{ items: ApiEvent[] }>(
      await server.api(`/v1/sessions/${sessionId}/events?limit=500`),
    );
    expect(events).toEqual(stored.items);
    expect((await berth(target, 'logs', sessionId, '--kinds', 'output,bogus')).code).toBe(2);
  });

  it('logs -f shows replayed then live events, and exits 0 on Ctrl-C', async () => {
    const { sessionId } = await newSession(server);
    await berth(target, 'send', sessionId, 'before', '--wait');
    const proc = spawnBerth(target, 'logs', sessionId, '-f', '--after', '0');
    const out = watch(proc);
    await out.until((s) => s.includes('echo: before'));
    await post(server, sessionId, '!stderr 3');
    await out.until((s) => s.includes('stderr line 3') && s.includes('stderr: 3 lines'));
    proc.kill('SIGINT');
    const result = await proc;
    expect(result.exitCode).toBe(0);
    const seqs = out
      .text()
      .trim()
      .split('\n')
      .map((l) => Number(l.trim().split(/\s+/)[0]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('wakes, interrupts and stops a session', async () => {
    const { sessionId } = await newSession(server);
    const woke = await berthJson<{ status: string; generation: number }>(target, 'wake', sessionId);
    expect(woke).toMatchObject({ generation: 1, status: expect.stringMatching(/^(starting|running)$/) });
    expect((await berth(target, 'wake', sessionId)).stdout).toMatch(
      /: (starting|running) \(generation 1\)$/m,
    );
    expect(await berthJson(target, 'interrupt', sessionId)).toEqual({ interrupted: false });
    const stopped = await berth(target, 'stop', sessionId);
    expect(stopped).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/: idle \(last exit: aborted\)/),
    });
    expect(await berthJson(target, 'sessions', 'show', sessionId)).toMatchObject({
      status: 'idle',
      lastExit: { reason: 'aborted' },
    });
  });

  it('doctor reports a ready server and exits 0', async () => {
    const r = await berth(target, 'doctor');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^server\s+ok\s+/m);
    expect(r.stdout).toMatch(/^token\s+ok\s+accepted \(from BERTH_TOKEN\)/m);
    for (const check of ['database', 'runtime', 'image', 'proxy'])
      expect(r.stdout).toMatch(new RegExp(`^${check}\\s+ok`, 'm'));
    expect(r.stdout).toContain('berth is ready.');
    const report = await berthJson<{ ok: boolean; checks: { name: string; ok: boolean }[] }>(
      target,
      'doctor',
    );
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual(
      expect.arrayContaining(['server', 'token', 'database', 'image']),
    );
  });
});
