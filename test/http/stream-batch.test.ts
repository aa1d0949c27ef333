import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { dbKinds } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { json } from '../support/sessions.ts';

interface Event {
  seq: number;
  kind: string;
  stream: string | null;
  generation: number | null;
  time: string;
  data: Record<string, unknown>;
}
type Frame = { type: 'events'; events: Event[] } | ({ type: 'event' } & Event);

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const kindOf = (i: number) => (['log', 'output', 'lifecycle'] as const)[i % 3]!;

/** A viewer recording frames; `events` flattens batches so both protocols compare alike. */
class Viewer {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  readonly opened: Promise<void>;
  #waiters = new Set<() => void>();

  constructor(url: string, protocols: string[], token: string) {
    this.ws = new WebSocket(url, protocols, { headers: { authorization: `Bearer ${token}` } });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.on('message', (raw) => {
      this.frames.push(JSON.parse(String(raw)) as Frame);
      for (const w of this.#waiters) w();
    });
  }

  get events(): Event[] {
    return this.frames.flatMap((f) => (f.type === 'events' ? f.events : [f]));
  }

  untilSeq(seq: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if ((this.events.at(-1)?.seq ?? 0) >= seq) {
          this.#waiters.delete(check);
          resolve();
        }
      };
      this.ws.once('close', (code) => reject(new Error(`closed with ${code} before seq ${seq}`)));
      this.#waiters.add(check);
      check();
    });
  }

  close(): Promise<void> {
    this.ws.close(1000);
    return new Promise((resolve) => this.ws.once('close', () => resolve()));
  }
}

describe.each(dbKinds())('batched event stream, berth.v2 (%s)', (dbKind) => {
  let srv: TestServer;
  let folders = 0;

  beforeAll(async () => {
    srv = await startTestServer(dbKind);
  });
  afterAll(async () => {
    await srv?.close();
  });

  async function newSession(): Promise<string> {
    const folder = `sb-${++folders}`;
    const group = await json<{ id: string }>(
      await srv.api('/v1/groups', { method: 'POST', json: { name: folder, folder } }),
      201,
    );
    return (
      await json<{ id: string }>(
        await srv.api('/v1/sessions', { method: 'POST', json: { groupId: group.id } }),
        201,
      )
    ).id;
  }

  /** Appends through the event log, the path container output takes; resolves with the last seq. */
  async function produce(sessionId: string, count: number): Promise<number> {
    const rows = await Promise.all(
      range(1, count).map((i) =>
        srv.events.append(sessionId, {
          kind: kindOf(i),
          stream: 'stderr',
          generation: 1,
          data: { line: `line ${i}` },
        }),
      ),
    );
    return rows.at(-1)!.seq;
  }

  const open = (sessionId: string, query: string, protocols: string[]) =>
    new Viewer(
      `${srv.url.replace(/^http/, 'ws')}/v1/sessions/${sessionId}/stream?${query}`,
      protocols,
      srv.token,
    );

  it('sends a v2 viewer every event in order in batch frames, and a v1 viewer single events', async () => {
    const sessionId = await newSession();
    await produce(sessionId, 700);
    const v2 = open(sessionId, 'after=0', ['berth.v2', 'berth.v1']);
    const v1 = open(sessionId, 'after=0', ['berth.v1']);
    await Promise.all([v2.opened, v1.opened]);
    expect(v2.ws.protocol).toBe('berth.v2');
    expect(v1.ws.protocol).toBe('berth.v1');
    let last = 0;
    for (let b = 0; b < 20; b++) last = await produce(sessionId, 50);
    await Promise.all([v2.untilSeq(last), v1.untilSeq(last)]);
    expect(v2.events.map((e) => e.seq)).toEqual(range(1, last));
    expect(v1.events.map((e) => e.seq)).toEqual(range(1, last));
    expect(
      v2.frames.every((f) => f.type === 'events' && f.events.length >= 1 && f.events.length <= 256),
    ).toBe(true);
    // Batches: a 700-event replay and 50-event appends need far fewer frames than events.
    expect(v2.frames.length).toBeLessThan(last / 10);
    expect(v1.frames.every((f) => f.type === 'event')).toBe(true);
    // The same event reads the same in both forms.
    expect(v2.events).toEqual(v1.events.map(({ type: _, ...e }: Event & { type?: string }) => e));
    expect(Object.keys(v2.events[0]!)).toEqual(['seq', 'kind', 'stream', 'generation', 'time', 'data']);
    await Promise.all([v2.close(), v1.close()]);
  });

  it('filters kinds inside batches and keeps the cursor moving across skipped events', async () => {
    const sessionId = await newSession();
    await produce(sessionId, 300);
    const outputs = open(sessionId, 'after=0&kinds=output', ['berth.v2']);
    await outputs.opened;
    const last = await produce(sessionId, 300);
    const expected = range(1, last).filter((s) => kindOf(s) === 'output');
    await outputs.untilSeq(expected.at(-1)!);
    expect(outputs.events.map((e) => e.seq)).toEqual(expected);
    expect(outputs.events.every((e) => e.kind === 'output')).toBe(true);
    await outputs.close();
  });

  it('resumes after a reconnect from the last seq of the last batch, without gap or duplicate', async () => {
    const sessionId = await newSession();
    const first = await produce(sessionId, 1000);
    const before = open(sessionId, 'after=0', ['berth.v2']);
    await before.untilSeq(first);
    await before.close();
    const seen = before.events.at(-1)!.seq;
    const last = await produce(sessionId, 500);
    const after = open(sessionId, `after=${seen}`, ['berth.v2']);
    await after.untilSeq(last);
    expect([...before.events, ...after.events].map((e) => e.seq)).toEqual(range(1, last));
    await after.close();
  });

  it('replays the full range to every one of many late viewers connecting at once', async () => {
    const sessionId = await newSession();
    const last = await produce(sessionId, 3000);
    const viewers = range(1, 10).map((i) => open(sessionId, 'after=0', i % 2 ? ['berth.v2'] : ['berth.v1']));
    await Promise.all(viewers.map((v) => v.untilSeq(last)));
    for (const v of viewers) expect(v.events.map((e) => e.seq)).toEqual(range(1, last));
    await Promise.all(viewers.map((v) => v.close()));
  });
});
