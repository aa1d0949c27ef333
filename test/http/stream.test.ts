import websocket from '@fastify/websocket';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientOptions, WebSocket } from 'ws';
import type { EventKind } from '../../src/events/event-log.ts';
import { KeySockets } from '../../src/http/stream/key-sockets.ts';
import { streamRoutes } from '../../src/http/stream/routes.ts';
import { closeSocketsGoingAway, selectProtocol } from '../../src/http/stream/socket-server.ts';
import { validatorCompiler } from '../../src/http/validation.ts';
import { dbKinds, freshDatabaseUrl } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

interface Frame {
  type: 'event' | 'overflow';
  seq: number;
  kind: EventKind;
  stream: string | null;
  generation: number | null;
  time: string;
  data: Record<string, unknown>;
  missed: number;
  resumeAfter: number;
}

interface Closed {
  code: number;
  reason: string;
}

/** A real WebSocket viewer that records every frame it receives. */
class Viewer {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;
  #closedWith: Closed | undefined;
  #checks = new Set<() => void>();

  constructor(url: string, protocols: string[] = [], options: ClientOptions = {}) {
    this.ws = new WebSocket(url, protocols, options);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        this.#closedWith = { code, reason: reason.toString() };
        resolve(this.#closedWith);
        for (const check of this.#checks) check();
      });
    });
    this.ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      for (const check of this.#checks) check();
    });
  }

  get events(): Frame[] {
    return this.frames.filter((f) => f.type === 'event');
  }

  get seqs(): number[] {
    return this.events.map((f) => f.seq);
  }

  /** Resolves once `done()` holds; fails if the socket closes first. */
  until(done: () => boolean, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (done()) {
          this.#checks.delete(check);
          resolve();
        } else if (this.#closedWith) {
          this.#checks.delete(check);
          reject(new Error(`closed (${this.#closedWith.code} ${this.#closedWith.reason}) before ${what}`));
        }
      };
      this.#checks.add(check);
      check();
    });
  }

  untilSeq(seq: number): Promise<void> {
    return this.until(() => (this.events.at(-1)?.seq ?? 0) >= seq, `seq ${seq}`);
  }

  async close(): Promise<Closed> {
    this.ws.close(1000);
    return this.closed;
  }
}

interface Refusal {
  status: number;
  contentType: string | undefined;
  body: { code: string; status: number; detail?: string };
}

/** The HTTP answer to an upgrade the server refuses; resolves once the server has also hung up. */
function refusal(url: string, protocols: string[] = [], options: ClientOptions = {}): Promise<Refusal> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      // The client never hangs up itself: a refused upgrade must not leave the socket open on the server.
      res.socket.once('close', () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'],
          body: JSON.parse(body),
        }),
      );
    });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was accepted'));
    });
    ws.on('error', reject);
  });
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

const kindOf = (i: number): EventKind => (['log', 'output', 'lifecycle'] as const)[i % 3]!;

let folders = 0;

describe.each(dbKinds())('session event stream over WebSocket (%s)', (dbKind) => {
  let srv: TestServer;
  let wsBase: string;

  beforeAll(async () => {
    srv = await startTestServer(dbKind);
    wsBase = srv.url.replace(/^http/, 'ws');
  });
  afterAll(async () => {
    await srv?.close();
  });

  async function newSession(server = srv): Promise<string> {
    const group = await server.api('/v1/groups', {
      method: 'POST',
      json: { name: 'Stream', folder: `st-${++folders}` },
    });
    expect(group.status).toBe(201);
    const { id: groupId } = (await group.json()) as { id: string };
    const session = await server.api('/v1/sessions', { method: 'POST', json: { groupId } });
    expect(session.status).toBe(201);
    return ((await session.json()) as { id: string }).id;
  }

  /** Appends `count` events through the event log (the path container output takes) and waits until stored. */
  async function produce(
    sessionId: string,
    count: number,
    opts: { size?: number; server?: TestServer } = {},
  ) {
    const server = opts.server ?? srv;
    const pad = opts.size ? 'x'.repeat(opts.size) : undefined;
    const rows = await Promise.all(
      range(1, count).map((i) =>
        server.events.append(sessionId, {
          kind: pad ? 'output' : kindOf(i),
          stream: 'stderr',
          generation: 1,
          data: pad ? { text: pad } : { line: `line ${i}` },
        }),
      ),
    );
    expect(rows.every(Boolean)).toBe(true);
    return rows.at(-1)!.seq;
  }

  /** Produces in small batches, yielding between them, so viewers connect and replay while events keep coming. */
  async function produceConcurrently(sessionId: string, batches: number, perBatch: number): Promise<number> {
    let last = 0;
    for (let b = 0; b < batches; b++) {
      last = await produce(sessionId, perBatch);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return last;
  }

  const streamUrl = (sessionId: string, query = '') =>
    `${wsBase}/v1/sessions/${sessionId}/stream${query ? `?${query}` : ''}`;

  const viewer = (sessionId: string, query = '', options: ClientOptions = {}) =>
    new Viewer(streamUrl(sessionId, query), [], {
      headers: { authorization: `Bearer ${srv.token}` },
      ...options,
    });

  it('replays from the cursor, then goes live, without gap or duplicate while events keep coming', async () => {
    const sessionId = await newSession();
    await produce(sessionId, 300);
    const producing = produceConcurrently(sessionId, 30, 20);
    const early = viewer(sessionId, 'after=0');
    const midway = viewer(sessionId, 'after=150');
    await early.untilSeq(400);
    const late = viewer(sessionId, 'after=0');
    const last = await producing;
    expect(last).toBe(900);
    await Promise.all([early.untilSeq(last), midway.untilSeq(last), late.untilSeq(last)]);
    expect(early.seqs).toEqual(range(1, last));
    expect(midway.seqs).toEqual(range(151, last));
    expect(late.seqs).toEqual(range(1, last));
    const frame = early.frames[0]!;
    expect(Object.keys(frame)).toEqual(['type', 'seq', 'kind', 'stream', 'generation', 'time', 'data']);
    expect(frame).toMatchObject({ type: 'event', seq: 1, kind: 'output', stream: 'stderr', generation: 1 });
    expect(frame.data).toEqual({ line: 'line 1' });
    expect(new Date(frame.time).toISOString()).toBe(frame.time);
    await Promise.all([early.close(), midway.close(), late.close()]);
  });

  it('without a cursor sends only events stored after the viewer connected', async () => {
    const sessionId = await newSession();
    await produce(sessionId, 50);
    const live = viewer(sessionId);
    await live.opened;
    // Whether the first appends land before or after the viewer's start, the first frame comes once it is live.
    let last = 50;
    while (live.events.length === 0) {
      last = await produce(sessionId, 1);
      await new Promise((resolve) => setImmediate(resolve));
    }
    last = await produce(sessionId, 100);
    await live.untilSeq(last);
    const first = live.seqs[0]!;
    expect(first).toBeGreaterThan(50);
    expect(live.seqs).toEqual(range(first, last));
    await live.close();
  });

  it('resumes after a disconnect from the last seq seen', async () => {
    const sessionId = await newSession();
    const producing = produceConcurrently(sessionId, 20, 25);
    const first = viewer(sessionId, 'after=0');
    await first.untilSeq(100);
    await first.close();
    const seen = first.seqs;
    const resumed = viewer(sessionId, `after=${seen.at(-1)}`);
    const last = await producing;
    await resumed.untilSeq(last);
    expect([...seen, ...resumed.seqs]).toEqual(range(1, last));
    await resumed.close();
  });

  it('gives 50 concurrent viewers of one session the identical sequence', async () => {
    const sessionId = await newSession();
    await produce(sessionId, 100);
    const viewers = range(1, 50).map(() => viewer(sessionId, 'after=0'));
    await Promise.all(viewers.map((v) => v.opened));
    const last = await produceConcurrently(sessionId, 10, 40);
    await Promise.all(viewers.map((v) => v.untilSeq(last)));
    const expected = range(1, last);
    for (const v of viewers) {
      expect(v.seqs).toEqual(expected);
      expect(v.events.map((f) => f.data)).toEqual(viewers[0]!.events.map((f) => f.data));
    }
    await Promise.all(viewers.map((v) => v.close()));
  });

  it('filters by kinds in replay and live', async () => {
    const sessionId = await newSession();
    await produce(sessionId, 90);
    const outputs = viewer(sessionId, 'after=0&kinds=output,lifecycle');
    const logs = viewer(sessionId, 'after=30&kinds=log');
    await produceConcurrently(sessionId, 5, 30);
    const stored = async (kinds: EventKind[], after: number) =>
      (await srv.events.read({ sessionId, after, kinds, limit: 1000 })).map((row) => row.seq);
    const outSeqs = await stored(['output', 'lifecycle'], 0);
    const logSeqs = await stored(['log'], 30);
    expect(outSeqs.length).toBe(160);
    await outputs.untilSeq(outSeqs.at(-1)!);
    await logs.untilSeq(logSeqs.at(-1)!);
    expect(outputs.seqs).toEqual(outSeqs);
    expect(new Set(outputs.events.map((f) => f.kind))).toEqual(new Set(['output', 'lifecycle']));
    expect(logs.seqs).toEqual(logSeqs);
    expect(logs.events.every((f) => f.kind === 'log')).toBe(true);
    await Promise.all([outputs.close(), logs.close()]);
  });

  it('drops a viewer that stops reading with an overflow frame and 4008, without holding up the others', async () => {
    const sessionId = await newSession();
    const fast = range(1, 3).map(() => viewer(sessionId, 'after=0'));
    const slow = viewer(sessionId, 'after=0');
    await Promise.all([...fast, slow].map((v) => v.opened));
    // The slow viewer's process stops reading its socket: the server's writes back up.
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const serverSockets = () => [...srv.app.websocketServer.clients];
    const overflowed = () => serverSockets().some((s) => s.readyState === WebSocket.CLOSING);
    let last = 0;
    for (let round = 0; round < 40 && !overflowed(); round++) {
      last = await produce(sessionId, 200, { size: 4096 });
      await Promise.all(fast.map((v) => v.untilSeq(last)));
    }
    expect(overflowed()).toBe(true);
    last = await produce(sessionId, 200, { size: 4096 });
    await Promise.all(fast.map((v) => v.untilSeq(last)));
    for (const v of fast) expect(v.seqs).toEqual(range(1, last));

    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(4008);
    const overflow = slow.frames.at(-1)!;
    expect(overflow.type).toBe('overflow');
    expect(overflow.missed).toBeGreaterThan(0);
    expect(overflow.resumeAfter).toBe(slow.events.at(-1)?.seq ?? 0);
    expect(slow.seqs).toEqual(range(1, overflow.resumeAfter));
    expect(overflow.resumeAfter).toBeLessThan(last);
    expect(closed.reason).toBe(`viewer too slow; resume with after=${overflow.resumeAfter}`);

    const resumed = viewer(sessionId, `after=${overflow.resumeAfter}`);
    await resumed.untilSeq(last);
    expect([...slow.seqs, ...resumed.seqs]).toEqual(range(1, last));
    await Promise.all([...fast, resumed].map((v) => v.close()));
  });

  it('refuses an upgrade without a token, or with a wrong one, with 401', async () => {
    const sessionId = await newSession();
    const none = await refusal(streamUrl(sessionId));
    expect(none.status).toBe(401);
    expect(none.contentType).toMatch(/^application\/problem\+json/);
    expect(none.body.code).toBe('UNAUTHORIZED');
    const wrongHeader = await refusal(streamUrl(sessionId), [], {
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrongHeader.status).toBe(401);
    const wrongQuery = await refusal(streamUrl(sessionId, 'access_token=nope'));
    expect(wrongQuery.status).toBe(401);
    const wrongProtocol = await refusal(streamUrl(sessionId), ['berth.v1', 'bearer.nope']);
    expect(wrongProtocol.status).toBe(401);
  });

  it('accepts the token from the query or a bearer subprotocol, and echoes only berth.v1', async () => {
    const sessionId = await newSession();
    await produce(sessionId, 3);
    const byQuery = new Viewer(streamUrl(sessionId, `after=0&access_token=${srv.token}`));
    await byQuery.untilSeq(3);
    expect(byQuery.seqs).toEqual([1, 2, 3]);

    let protocolHeader: string | undefined;
    const byProtocol = new Viewer(streamUrl(sessionId, 'after=1'), ['berth.v1', `bearer.${srv.token}`]);
    byProtocol.ws.once('upgrade', (res) => {
      protocolHeader = res.headers['sec-websocket-protocol'] as string | undefined;
    });
    await byProtocol.untilSeq(3);
    expect(byProtocol.seqs).toEqual([2, 3]);
    expect(byProtocol.ws.protocol).toBe('berth.v1');
    expect(protocolHeader).toBe('berth.v1');
    await Promise.all([byQuery.close(), byProtocol.close()]);
  });

  it('refuses an unknown session with 404 and a bad cursor or kind with 400, before upgrading', async () => {
    const auth = { headers: { authorization: `Bearer ${srv.token}` } };
    const unknown = await refusal(streamUrl('ses_000000000000000000000', 'after=0'), [], auth);
    expect(unknown.status).toBe(404);
    expect(unknown.contentType).toMatch(/^application\/problem\+json/);
    expect(unknown.body.code).toBe('SESSION_NOT_FOUND');

    const sessionId = await newSession();
    await produce(sessionId, 5);
    for (const query of ['after=-1', 'after=abc', 'after=1.5', 'kinds=bogus', 'kinds=', 'cursor=3']) {
      const bad = await refusal(streamUrl(sessionId, query), [], auth);
      expect(bad.status, query).toBe(400);
      expect(bad.body.code, query).toBe('VALIDATION_FAILED');
    }
    const beyond = await refusal(streamUrl(sessionId, 'after=6'), [], auth);
    expect(beyond.status).toBe(400);
    expect(beyond.body.code).toBe('CURSOR_OUT_OF_RANGE');
    const malformedId = await refusal(streamUrl('not-a-session'), [], auth);
    expect(malformedId.status).toBe(400);
  });

  it('answers a plain HTTP request with 426', async () => {
    const sessionId = await newSession();
    const res = await srv.api(`/v1/sessions/${sessionId}/stream`);
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
    expect(((await res.json()) as { code: string }).code).toBe('UPGRADE_REQUIRED');
  });

  it('pings viewers and drops one that stops answering pongs', async () => {
    // The same stream plugin on the same event log, with a short ping period.
    const app = Fastify();
    app.setValidatorCompiler(validatorCompiler);
    app.decorate('keySockets', new KeySockets());
    await app.register(websocket, {
      options: { handleProtocols: selectProtocol },
      preClose: closeSocketsGoingAway,
    });
    const ctx = {
      config: srv.config,
      store: srv.store,
      events: srv.events,
      runner: srv.parts.supervisor,
      images: srv.parts.images,
      schedules: srv.parts.schedules,
    };
    await app.register(streamRoutes(ctx, { pingIntervalMs: 50 }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const sessionId = await newSession();
      const url = `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/v1/sessions/${sessionId}/stream?after=0`;
      const answering = new Viewer(url);
      const silent = new Viewer(url, [], { autoPong: false });
      let silentPings = 0;
      silent.ws.on('ping', () => silentPings++);
      const sixPings = new Promise<void>((resolve) => {
        let answered = 0;
        answering.ws.on('ping', () => {
          if (++answered === 6) resolve();
        });
      });
      const silentClosed = await silent.closed;
      // Terminated without a close frame: the server cut the TCP connection.
      expect(silentClosed.code).toBe(1006);
      expect(silentPings).toBeGreaterThanOrEqual(2);
      await sixPings;
      expect(answering.ws.readyState).toBe(WebSocket.OPEN);
      const last = await produce(sessionId, 2);
      await answering.untilSeq(last);
      expect(answering.seqs).toEqual([1, 2]);
      expect(last).toBe(2);
      await answering.close();
    } finally {
      await app.close();
    }
  });

  // Only PostgreSQL is shared by several instances, so the PGlite run has no such test (rather than a skip).
  if (dbKind === 'postgres')
    it('streams events appended on another instance sharing the database', async () => {
      const url = await freshDatabaseUrl();
      const writer = await startTestServer(dbKind, { DATABASE_URL: url });
      const reader = await startTestServer(dbKind, { DATABASE_URL: url });
      try {
        const sessionId = await newSession(writer);
        await produce(sessionId, 100, { server: writer });
        const remote = new Viewer(
          `${reader.url.replace(/^http/, 'ws')}/v1/sessions/${sessionId}/stream?after=0`,
          [],
          {
            headers: { authorization: `Bearer ${reader.token}` },
          },
        );
        await remote.untilSeq(100);
        let last = 100;
        for (let round = 0; round < 10; round++) last = await produce(sessionId, 50, { server: writer });
        await remote.untilSeq(last);
        expect(remote.seqs).toEqual(range(1, last));
        await remote.close();
      } finally {
        await reader.close();
        await writer.close();
      }
    });

  it('closes every viewer with 1001 when the server shuts down', async () => {
    const own = await startTestServer(dbKind);
    const sessionId = await newSession(own);
    await produce(sessionId, 10, { server: own });
    const url = `${own.url.replace(/^http/, 'ws')}/v1/sessions/${sessionId}/stream?after=0`;
    const viewers = range(1, 3).map(
      () => new Viewer(url, [], { headers: { authorization: `Bearer ${own.token}` } }),
    );
    await Promise.all(viewers.map((v) => v.untilSeq(10)));
    await own.close();
    for (const v of viewers) {
      const closed = await v.closed;
      expect(closed.code).toBe(1001);
      expect(v.seqs).toEqual(range(1, 10));
    }
  });
});
