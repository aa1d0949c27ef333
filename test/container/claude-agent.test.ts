import { chownSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig } from '../../src/config.ts';
import {
  asRequest,
  conversationText,
  lastToolResults,
  lastUserText,
  oneToolCall,
  systemText,
  toolNames,
} from '../support/agent-script.ts';
import { startClaudeServer } from '../support/agent-server.ts';
import type { FakeModel } from '../support/fake-model.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import type { TestServer } from '../support/server.ts';
import { type ApiEvent, collectEvents, json, lifecycle, post, replies } from '../support/sessions.ts';

/** berth's default BERTH_CONTAINER_UID: agents never run as a host account. */
const AGENT_UID = loadConfig({}).containerUid;

const REAL_KEY = 'sk-ant-real-key-for-the-claude-agent-tests';

interface Session {
  groupId: string;
  sessionId: string;
  folder: string;
}

/** Waits for the reply (or error) to one message and returns every event up to it. */
async function turn(server: TestServer, sessionId: string, text: string, timeoutMs = 45_000) {
  const msg = await post(server, sessionId, text);
  const events = await collectEvents(
    server,
    sessionId,
    (e) =>
      replies(e).some((r) => r.stream === 'reply' && r.data.inReplyTo === msg.id) ||
      lifecycle(e, 'agent_error').some((x) => x.data.messageId === msg.id),
    { timeoutMs },
  );
  const reply = replies(events).find((r) => r.stream === 'reply' && r.data.inReplyTo === msg.id);
  const error = lifecycle(events, 'agent_error').find((x) => x.data.messageId === msg.id);
  return {
    msg,
    events,
    reply: reply?.data.text as string | undefined,
    error: error?.data.message as string | undefined,
  };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => path.join(d.parentPath, d.name));
}

describe.each(runtimesUnderTest())('claude agent on %s', (runtime) => {
  let server: TestServer;
  let model: FakeModel;

  beforeAll(async () => {
    ({ server, model } = await startClaudeServer(runtime, REAL_KEY));
  });

  afterAll(async () => {
    await server?.close();
    await model?.close();
  });

  async function newGroup(containerConfig: Record<string, unknown> = {}, memory?: string): Promise<Session> {
    const folder = `c${Math.random().toString(36).slice(2, 10)}`;
    const g = await json<{ id: string }>(
      await server.api('/v1/groups', { method: 'POST', json: { name: folder, folder, containerConfig } }),
      201,
    );
    // The folder is made at the first wake; made here, the test can put files in it first.
    mkdirSync(path.join(server.dataDir, 'groups', folder), { recursive: true });
    if (memory) writeFileSync(path.join(server.dataDir, 'groups', folder, 'CLAUDE.md'), memory);
    const s = await json<{ id: string }>(
      await server.api('/v1/sessions', { method: 'POST', json: { groupId: g.id } }),
      201,
    );
    return { groupId: g.id, sessionId: s.id, folder };
  }

  const sessionDir = (s: Session) => path.join(server.dataDir, 'sessions', s.groupId, s.sessionId);

  it('runs Bash in /workspace as the dedicated agent uid: file on the host, output in the reply, tool and usage events live', async () => {
    const s = await newGroup();
    model.setReply(oneToolCall('Bash', () => ({ command: 'echo hi > hello.txt && id -u && cat hello.txt' })));
    const ws = new WebSocket(
      `${server.url.replace('http', 'ws')}/v1/sessions/${s.sessionId}/stream?kinds=tool,usage`,
      {
        headers: { authorization: `Bearer ${server.token}` },
      },
    );
    const live: ApiEvent[] = [];
    const sawToolEnd = new Promise<void>((resolve, reject) => {
      ws.on('message', (raw) => {
        const frame = JSON.parse(String(raw)) as ApiEvent & { type: string };
        if (frame.type === 'event') live.push(frame);
        if (frame.kind === 'tool' && frame.stream === 'end') resolve();
      });
      ws.on('error', reject);
    });
    await new Promise((resolve) => ws.once('open', resolve));
    const { reply, events } = await turn(server, s.sessionId, 'create hello.txt containing hi');
    await sawToolEnd;
    ws.close();
    expect(reply).toBe(`Done: ${AGENT_UID}\nhi`);
    expect(readFileSync(path.join(sessionDir(s), 'hello.txt'), 'utf8')).toBe('hi\n');
    const tool = live.find((e) => e.kind === 'tool' && e.stream === 'end')!;
    expect(tool.data).toMatchObject({ name: 'Bash', isError: false, result: `${AGENT_UID}\nhi` });
    expect(String(tool.data.input)).toContain('echo hi > hello.txt');
    expect(tool.data.durationMs).toEqual(expect.any(Number));
    expect(
      events.some((e) => e.kind === 'output' && e.stream === 'assistant' && e.data.text === 'Working on it.'),
    ).toBe(true);
    const usage = events.find((e) => e.kind === 'usage')!;
    // Two model calls (tool_use, then the answer); the fake reports 10 input tokens and cache reads for each.
    expect(usage.data).toMatchObject({ turns: 2, cacheReadTokens: expect.any(Number) });
    expect(usage.data.inputTokens).toBeGreaterThanOrEqual(10);
    expect(usage.data.costUsd).toBeGreaterThan(0);
    const session = await json<{ agentUsage: Record<string, number> }>(
      await server.api(`/v1/sessions/${s.sessionId}`),
    );
    expect(session.agentUsage).toMatchObject({
      turns: 1,
      inputTokens: usage.data.inputTokens,
      outputTokens: usage.data.outputTokens,
      costUsd: usage.data.costUsd,
    });
  });

  it('continues the conversation after a stop and after its container is killed', async () => {
    const s = await newGroup();
    model.setReply('noted');
    expect((await turn(server, s.sessionId, 'remember the word pelican')).reply).toBe('noted');
    await json(await server.api(`/v1/sessions/${s.sessionId}/stop`, { method: 'POST' }), 200);
    const before = model.requests.length;
    expect((await turn(server, s.sessionId, 'what was the word?')).reply).toBe('noted');
    const afterStop = model.requests
      .slice(before)
      .map((r) => conversationText(asRequest(JSON.parse(r.body))));
    expect(afterStop.some((t) => t.includes('remember the word pelican'))).toBe(true);

    const { containerName } = await json<{ containerName: string }>(
      await server.api(`/v1/sessions/${s.sessionId}`),
    );
    await execa(runtime, ['kill', containerName], { reject: false });
    const mark = model.requests.length;
    expect((await turn(server, s.sessionId, 'and after the crash?')).reply).toBe('noted');
    const afterKill = model.requests.slice(mark).map((r) => conversationText(asRequest(JSON.parse(r.body))));
    expect(
      afterKill.some((t) => t.includes('remember the word pelican') && t.includes('what was the word?')),
    ).toBe(true);
  });

  it('starts a new conversation when the saved one cannot be resumed', async () => {
    const s = await newGroup();
    const state = path.join(sessionDir(s), '.berth');
    mkdirSync(state, { recursive: true });
    writeFileSync(
      path.join(state, 'claude-session.json'),
      JSON.stringify({ sessionId: '0b6f1f9e-1c1d-4a8e-9a51-000000000000', costUsd: 0 }),
    );
    if (process.getuid?.() === 0) {
      chownSync(sessionDir(s), AGENT_UID, AGENT_UID);
      chownSync(state, AGENT_UID, AGENT_UID);
      chownSync(path.join(state, 'claude-session.json'), AGENT_UID, AGENT_UID);
    }
    model.setReply('fresh start');
    const { reply, events } = await turn(server, s.sessionId, 'hello?');
    expect(reply).toBe('fresh start');
    expect(
      events.some((e) => e.kind === 'log' && String(e.data.line).includes('cannot resume session')),
    ).toBe(true);
  });

  it('puts the group CLAUDE.md in the system prompt; a member group cannot write /workspace/global', async () => {
    const s = await newGroup(
      { systemPromptSuffix: 'Suffix: answer tersely.' },
      'Group memory: the build server is called kestrel.',
    );
    model.setReply(oneToolCall('Bash', () => ({ command: 'touch /workspace/global/x 2>&1; echo rc=$?' })));
    const before = model.requests.length;
    const { reply } = await turn(server, s.sessionId, 'try writing to global');
    expect(reply).toMatch(/Read-only file system[\s\S]*rc=1/);
    const system = systemText(asRequest(JSON.parse(model.requests[before]!.body)));
    expect(system).toContain('the build server is called kestrel');
    expect(system).toContain('Suffix: answer tersely.');
  });

  it('offers no Bash tool when the group disallows it, and offers a declared MCP server tool', async () => {
    const mcp = [
      "const rl = require('node:readline').createInterface({ input: process.stdin });",
      'const send = (m) => process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...m }) + "\\n");',
      'rl.on("line", (l) => { const m = JSON.parse(l); if (m.id === undefined) return;',
      '  if (m.method === "initialize") send({ id: m.id, result: { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: "demo", version: "1.0.0" } } });',
      '  else if (m.method === "tools/list") send({ id: m.id, result: { tools: [{ name: "shout", description: "Upper-cases text", inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] } }] } });',
      '  else if (m.method === "tools/call") send({ id: m.id, result: { content: [{ type: "text", text: String(m.params.arguments.text).toUpperCase() }] } });',
      '  else send({ id: m.id, error: { code: -32601, message: "no such method" } }); });',
    ].join('\n');
    const s = await newGroup({
      disallowedTools: ['Bash'],
      mcpServers: { demo: { command: 'node', args: ['/workspace/group/mcp.cjs'] } },
    });
    writeFileSync(path.join(server.dataDir, 'groups', s.folder, 'mcp.cjs'), mcp);
    model.setReply(oneToolCall('mcp__demo__shout', () => ({ text: 'quiet please' })));
    const before = model.requests.length;
    const { reply } = await turn(server, s.sessionId, 'shout it');
    expect(reply).toBe('Done: QUIET PLEASE');
    const tools = toolNames(asRequest(JSON.parse(model.requests[before]!.body)));
    expect(tools).toContain('mcp__demo__shout');
    expect(tools).not.toContain('Bash');
    expect(tools).toContain('Read');
  });

  it('interrupts a long tool call; the same container answers the next message', async () => {
    const s = await newGroup();
    model.setReply(({ body }) => {
      const req = asRequest(body);
      if (!req.tools?.length) return 'ok';
      if (lastUserText(req).includes('next')) return 'next answered';
      if (lastToolResults(req).length > 0) return 'finished';
      // Claude Code refuses a standalone `sleep N` at once; a reader of an endless file runs until stopped.
      return { tools: [{ name: 'Bash', input: { command: 'tail -f /dev/null' } }] };
    });
    const msg = await post(server, s.sessionId, 'run something long');
    await collectEvents(server, s.sessionId, (e) => e.some((x) => x.kind === 'tool' && x.stream === 'start'));
    const res = await json<{ interrupted: boolean }>(
      await server.api(`/v1/sessions/${s.sessionId}/interrupt`, { method: 'POST' }),
      202,
    );
    expect(res.interrupted).toBe(true);
    const events = await collectEvents(server, s.sessionId, (e) =>
      e.some((x) => x.kind === 'usage' && x.data.inReplyTo === msg.id),
    );
    const tool = events.filter((x) => x.kind === 'tool');
    expect(tool.map((x) => [x.stream, x.data.isError ?? false])).toEqual([
      ['start', false],
      ['end', true],
    ]);
    expect(events.find((x) => x.kind === 'usage')!.data.interrupted).toBe(true);
    const { reply, events: later } = await turn(server, s.sessionId, 'next please');
    expect(reply).toBe('next answered');
    expect(lifecycle(later, 'wake')).toHaveLength(1);
    const m = await json<{ status: string }>(
      await server.api(`/v1/sessions/${s.sessionId}/messages/${msg.id}`),
    );
    expect(m.status).toBe('done');
  });

  it('reports an upstream 429 and a cut stream as error events', async () => {
    const s = await newGroup();
    model.setReply({
      error: { status: 429, type: 'rate_limit_error', message: 'slow down please' },
      headers: { 'retry-after': '0', 'x-should-retry': 'false' },
    });
    const limited = await turn(server, s.sessionId, 'hello', 120_000);
    expect(limited.error).toMatch(/429|rate limit/i);
    model.setReply({ cutAfter: 'Half an ans' });
    const cut = await turn(server, s.sessionId, 'hello again', 120_000);
    expect(cut.error).toBeTruthy();
  });

  it('never puts the real key in the container, its files or the event log', async () => {
    const s = await newGroup();
    model.setReply(oneToolCall('Bash', () => ({ command: 'env | grep -c ANTHROPIC' })));
    await turn(server, s.sessionId, 'look around');
    const { containerName } = await json<{ containerName: string }>(
      await server.api(`/v1/sessions/${s.sessionId}`),
    );
    const inspect = await execa(runtime, ['inspect', containerName], { reject: false });
    expect(inspect.stdout).toContain('ANTHROPIC_API_KEY=berth-ph-');
    expect(inspect.stdout).not.toContain(REAL_KEY);
    for (const file of [
      ...filesUnder(sessionDir(s)),
      ...filesUnder(path.join(server.dataDir, 'agent-state')),
    ])
      if (statSync(file).size < 50_000_000) expect(readFileSync(file, 'utf8')).not.toContain(REAL_KEY);
    const all = await collectEvents(server, s.sessionId, (e) => e.length > 0);
    expect(JSON.stringify(all)).not.toContain(REAL_KEY);
    expect(model.requests.at(-1)!.headers['x-api-key']).toBe(REAL_KEY);
  });
});
