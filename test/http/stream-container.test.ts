import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { newSession, post } from '../support/sessions.ts';

interface Frame {
  type: string;
  seq: number;
  kind: string;
  stream: string | null;
  data: { line?: string; text?: string; type?: string };
}

const runtime = runtimesUnderTest()[0];

describe.runIf(runtime)('live stderr from a real container over WebSocket', () => {
  let server: TestServer;

  beforeAll(async () => {
    const image = await ensureAgentImage(runtime!);
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  it('shows stderr lines live and in order, long lines capped, and the reply', async () => {
    const { sessionId } = await newSession(server);
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/sessions/${sessionId}/stream?after=0`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    const frames: Frame[] = [];
    const replied = new Promise<void>((resolve, reject) => {
      ws.on('message', (raw) => {
        const frame = JSON.parse(String(raw)) as Frame;
        frames.push(frame);
        const lines = frames.filter(
          (f) => f.kind === 'log' && f.data.line?.startsWith('stderr line '),
        ).length;
        // stderr and stdout are separate pipes: the reply may overtake the last stderr lines.
        if (lines === 300 && frames.some((f) => f.kind === 'output')) resolve();
      });
      ws.on('error', reject);
    });
    await new Promise((resolve) => ws.once('open', resolve));
    // 300 lines of 20,000 characters: each crosses many pipe chunks and exceeds the line cap.
    await post(server, sessionId, '!stderr 300 20000');
    await replied;
    ws.close();
    const lines = frames.filter((f) => f.kind === 'log' && f.data.line?.startsWith('stderr line '));
    expect(lines.map((f) => Number(/^stderr line (\d+)/.exec(f.data.line!)![1]))).toEqual(
      Array.from({ length: 300 }, (_, i) => i + 1),
    );
    for (const f of lines) {
      expect(f.data.line!.length).toBeLessThan(20_000);
      expect(f.data.line!.endsWith('…[truncated]')).toBe(true);
    }
    const seqs = frames.map((f) => f.seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b));
    expect(frames.filter((f) => f.kind === 'output').map((f) => f.data.text)).toEqual(['stderr: 300 lines']);
  });
});
