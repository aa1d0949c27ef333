import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startTestServer, type TestServer } from '../support/server.ts';
import { newSession } from '../support/sessions.ts';

describe('the bearer subprotocol without berth.v1', () => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = await startTestServer('pglite', { BERTH_RUNTIME: 'container' });
  });
  afterAll(async () => {
    await srv?.close();
  });

  it('is refused before the upgrade with a problem that shows the browser snippet, and never echoes the key', async () => {
    const { sessionId } = await newSession(srv);
    const ws = new WebSocket(`${srv.url.replace('http', 'ws')}/v1/sessions/${sessionId}/stream`, [
      `bearer.${srv.token}`,
    ]);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      ws.on('open', () => reject(new Error('upgraded')));
    });
    expect(answer.status).toBe(400);
    const problem = JSON.parse(answer.body) as { code: string; detail: string };
    expect(problem.code).toBe('BAD_REQUEST');
    expect(problem.detail).toContain("new WebSocket(url, ['berth.v1', 'bearer.' + key])");
    expect(answer.body).not.toContain(srv.token);
  });
});
