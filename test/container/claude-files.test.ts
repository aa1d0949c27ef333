import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asRequest, conversationText, lastToolResults } from '../support/agent-script.ts';
import { startClaudeServer } from '../support/agent-server.ts';
import type { FakeModel } from '../support/fake-model.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import type { TestServer } from '../support/server.ts';
import { type ApiEvent, collectEvents, json, newSession, replies } from '../support/sessions.ts';

const REAL_KEY = 'sk-ant-real-key-for-the-claude-files-test';

describe.each(runtimesUnderTest())('the claude agent with files on %s', (runtime) => {
  let server: TestServer;
  let model: FakeModel;

  beforeAll(async () => {
    ({ server, model } = await startClaudeServer(runtime, REAL_KEY));
  });

  afterAll(async () => {
    await server?.close();
    await model?.close();
  });

  it('reads an attachment with Read, writes outbox/report.txt with Write; the reply carries it byte for byte', async () => {
    const s = await newSession(server);
    const marker = `figures-${s.sessionId}`;
    const report = `Report\n\nThe attachment says: ${marker}\n`;
    // Scripted model: Read the attached path named in the message, then Write the report, then answer.
    model.setReply(({ body }) => {
      const req = asRequest(body);
      if (!req.tools?.length) return 'ok';
      const results = lastToolResults(req);
      if (results.length === 0) {
        const attached = /\/workspace\/inbox\/[^\s)\\"]+/.exec(conversationText(req))?.[0];
        return { text: 'Reading the attachment.', tools: [{ name: 'Read', input: { file_path: attached } }] };
      }
      if (results.some((r) => r.includes(marker)))
        return {
          tools: [{ name: 'Write', input: { file_path: '/workspace/outbox/report.txt', content: report } }],
        };
      return 'Report written.';
    });
    const msg = await json<{ id: string }>(
      await server.api(`/v1/sessions/${s.sessionId}/messages`, {
        method: 'POST',
        json: {
          text: 'Summarise the attached file into outbox/report.txt',
          attachments: [
            {
              name: 'figures.csv',
              contentType: 'text/csv',
              data: Buffer.from(`q,value\nq1,${marker}\n`).toString('base64'),
            },
          ],
        },
      }),
      202,
    );
    const events = await collectEvents(
      server,
      s.sessionId,
      (e) => replies(e).some((r) => r.stream === 'reply' && r.data.inReplyTo === msg.id),
      { timeoutMs: 90_000 },
    );
    const tools = events.filter((e) => e.kind === 'tool' && e.stream === 'end');
    expect(tools.map((t) => [t.data.name, t.data.isError])).toEqual([
      ['Read', false],
      ['Write', false],
    ]);
    expect(String(tools[0]!.data.result)).toContain(marker);
    const reply = replies(events).find((r: ApiEvent) => r.stream === 'reply' && r.data.inReplyTo === msg.id)!;
    expect(reply.data.text).toBe('Report written.');
    const files = reply.data.files as { id: string; name: string; size: number; sha256: string }[];
    expect(files.map((f) => [f.name, f.size])).toEqual([['report.txt', Buffer.byteLength(report)]]);
    const res = await server.api(`/v1/sessions/${s.sessionId}/files/${files[0]!.id}`);
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.toString()).toBe(report);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(files[0]!.sha256);
  });
});
