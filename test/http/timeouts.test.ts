import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../support/server.ts';
import { newSession, until } from '../support/sessions.ts';

/** A raw TCP client: what it received, and a promise that settles when the server closes it. */
function rawClient(port: number): { socket: Socket; received: () => string; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  let data = '';
  socket.on('data', (chunk) => {
    data += chunk.toString('latin1');
  });
  // A reset counts as closed too: the point is that the server ended the connection.
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => undefined);
  return { socket, received: () => data, closed };
}

const portOf = (server: TestServer) => Number(new URL(server.url).port);

describe('slow clients are cut; WebSocket streams are not', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: 'container',
      BERTH_HTTP_REQUEST_TIMEOUT_MS: '800',
      BERTH_HTTP_HEADERS_TIMEOUT_MS: '400',
      BERTH_HTTP_IDLE_TIMEOUT_MS: '600',
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('a body trickled slower than the request timeout is answered 408 and closed', async () => {
    const { sessionId } = await newSession(server);
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/sessions/${sessionId}/stream`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    await once(ws, 'open');

    const slow = rawClient(portOf(server));
    await once(slow.socket, 'connect');
    slow.socket.write(
      `POST /v1/groups HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${server.token}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"na`,
    );
    // One byte at a time keeps the socket active, so only the request deadline can end it (bounded: 200 bytes at most).
    let sent = 0;
    const drip = setInterval(() => {
      if (sent++ < 200 && !slow.socket.destroyed) slow.socket.write(' ');
    }, 100);
    await slow.closed;
    clearInterval(drip);
    expect(slow.received()).toMatch(/^HTTP\/1\.1 408 /);

    const silent = rawClient(portOf(server));
    await silent.closed;
    expect(silent.received()).not.toMatch(/^HTTP\/1\.1 2/);

    // The stream, idle for longer than both deadlines, still answers.
    ws.ping();
    await once(ws, 'pong');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });

  it('a long-poll within the idle timeout is answered normally', async () => {
    const { sessionId } = await newSession(server);
    const res = await server.api(`/v1/sessions/${sessionId}/events?wait=300`);
    expect(res.status).toBe(200);
  });
});

describe('the connection cap', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: 'container',
      BERTH_HTTP_MAX_CONNECTIONS: '3',
      BERTH_HTTP_KEEP_ALIVE_TIMEOUT_MS: '60000',
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  const healthz = 'GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n';

  it('refuses connections past the cap and accepts again once one closes', async () => {
    const held = [rawClient(portOf(server)), rawClient(portOf(server)), rawClient(portOf(server))];
    for (const c of held) {
      c.socket.write(healthz);
      await until(async () => (c.received().includes('"ok"') ? true : undefined), 10_000);
    }
    const extra = rawClient(portOf(server));
    extra.socket.write(healthz);
    await extra.closed;
    expect(extra.received()).toBe('');
    for (const c of held) expect(c.socket.destroyed).toBe(false);

    held[0]!.socket.end();
    await held[0]!.closed;
    const again = await until(async () => {
      const c = rawClient(portOf(server));
      c.socket.write(healthz);
      await Promise.race([
        c.closed,
        until(async () => (c.received().includes('"ok"') ? true : undefined), 5_000),
      ]);
      const ok = c.received().includes('"ok"');
      c.socket.destroy();
      return ok ? true : undefined;
    });
    expect(again).toBe(true);
    for (const c of held) c.socket.destroy();
  });
});
