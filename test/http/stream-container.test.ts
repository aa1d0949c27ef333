import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startEchoServer } from '../support/agent-server.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import type { TestServer } from '../support/server.ts';
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
    server = await startEchoServer(runtime!);
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

  it('stores and shows every line of a container flooding stderr, in order, none shed (berth.v2)', async () => {
    const { sessionId } = await newSession(server);
    const n = 30_000;
    let line = 0;
    let seq = 0;
    let reconnects = 0;
    const problems: string[] = [];
    /** One connection from the cursor; a viewer that falls behind live gets 4008 and resumes, as documented. */
    const follow = () =>
      new Promise<boolean>((resolve, reject) => {
        const url = `${server.url.replace('http', 'ws')}/v1/sessions/${sessionId}/stream?after=${seq}`;
        const ws = new WebSocket(url, ['berth.v2'], { headers: { authorization: `Bearer ${server.token}` } });
        ws.on('message', (raw) => {
          const frame = JSON.parse(String(raw)) as { type: string; events?: Frame[] };
          for (const e of frame.events ?? []) {
            if (e.seq !== seq + 1) problems.push(`seq ${e.seq} after ${seq}`);
            seq = e.seq;
            if (e.data.type === 'logs_dropped') problems.push('lines shed');
            const m = e.kind === 'log' ? /^stderr line (\d+)/.exec(e.data.line ?? '') : null;
            if (!m) continue;
            if (Number(m[1]) !== line + 1) problems.push(`line ${m[1]} after ${line}`);
            line = Number(m[1]);
          }
          if (frame.type !== 'events' && frame.type !== 'overflow') problems.push(`frame type ${frame.type}`);
          if (line === n) ws.close();
        });
        ws.once('open', () => opened());
        ws.once('close', (code) => resolve(code === 4008));
        ws.on('error', reject);
      });
    let opened: () => void = () => {};
    const first = new Promise<void>((resolve) => (opened = resolve));
    const following = (async () => {
      // Bounded: a viewer this far behind on every try would fail the test.
      for (let tries = 0; tries < 50 && line < n; tries++) if (await follow()) reconnects++;
    })();
    await first;
    // More lines than the event log queues before shedding (10,000): the pipe waits instead.
    await post(server, sessionId, `!stderr ${n} 100`);
    await following;
    expect(problems).toEqual([]);
    expect(line).toBe(n);
    console.info(`30,000 lines seen in order after ${reconnects} resumes`);
    const stored = await server.events.read({ sessionId, after: 0, kinds: ['log'], limit: n + 10 });
    expect(stored.filter((e) => String(e.data.line).startsWith('stderr line '))).toHaveLength(n);
  });
});
