import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoServer } from '../support/agent-server.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import type { TestServer } from '../support/server.ts';
import { type ApiEvent, json, newSession, post } from '../support/sessions.ts';
import { berth, spawnBerth, watch } from './run-cli.ts';

/** A TCP relay on loopback to the server, whose open connections the test can cut (a dropped network). */
async function relay(port: number): Promise<{ url: string; cut: () => number; close: () => Promise<void> }> {
  const open = new Set<Socket>();
  const srv: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    open.add(client);
    open.add(upstream);
    client.pipe(upstream).pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port: relayPort } = srv.address() as { port: number };
  return {
    url: `http://127.0.0.1:${relayPort}`,
    cut: () => {
      const n = open.size;
      for (const s of open) s.destroy();
      return n;
    },
    close: () => new Promise((resolve) => srv.close(() => resolve())),
  };
}

const runtime = runtimesUnderTest()[0];

describe.runIf(runtime)(`berth logs -f across a dropped connection (${runtime})`, () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startEchoServer(runtime!);
  });

  afterAll(async () => {
    await server?.close();
  });

  it('reconnects after the last seq it printed: no event twice, none skipped', async () => {
    const { sessionId } = await newSession(server);
    const port = Number(new URL(server.url).port);
    const net = await relay(port);
    const proc = spawnBerth({ url: net.url, token: server.token }, 'logs', sessionId, '-f', '--json');
    const out = watch(proc);
    const events = () =>
      out
        .text()
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ApiEvent);
    const replied = (text: string) => (s: string) => s.includes(`"text":"echo: ${text}"`);

    // From the start of the session's timeline (after=0 is the default), through the relay.
    await post(server, sessionId, 'first');
    await out.until(replied('first'));
    expect(net.cut()).toBeGreaterThan(0);
    // Posted while the viewer may be disconnected: the reconnect replays it from the cursor.
    await post(server, sessionId, 'second');
    await out.until(replied('second'));
    expect(net.cut()).toBeGreaterThan(0);
    await post(server, sessionId, 'third');
    await out.until(replied('third'));

    proc.kill('SIGINT');
    const result = await proc;
    await net.close();
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toMatch(/stream closed \(1006\); reconnecting after seq \d+/);
    expect(result.stderr).toContain('reconnected; resuming after seq');

    const seen = events();
    const last = seen.at(-1)!.seq;
    const stored = await json<{ items: ApiEvent[] }>(
      await server.api(`/v1/sessions/${sessionId}/events?limit=500`),
      200,
    );
    expect(seen).toEqual(stored.items.filter((e) => e.seq <= last));
    expect((await berth({ url: server.url, token: server.token }, 'logs', sessionId)).code).toBe(0);
  });
});
