import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import process from 'node:process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendEvents } from '../../src/store/events.ts';
import { dbKinds } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { json } from '../support/sessions.ts';

const VIEWERS = 250;
const EVENTS = 10_000;
/** What 250 stuck viewers may add to berth's RSS; unbounded buffering took gigabytes. */
const RSS_BUDGET_MB = 400;

interface Crowd {
  report: { upgraded: number; refused: Record<string, number> };
  close(): Promise<void>;
}

/** The viewers live in a child process, so berth's RSS (this process) carries only berth's side. */
async function slowViewers(srv: TestServer, sessionId: string, count: number): Promise<Crowd> {
  const script = path.join(import.meta.dirname, '../support/slow-viewers.ts');
  const tsx = path.join(process.cwd(), 'node_modules/.bin/tsx');
  const { port } = new URL(srv.url);
  const child = spawn(
    tsx,
    [script, port, `/v1/sessions/${sessionId}/stream?after=0`, srv.token, String(count)],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return {
    report: JSON.parse(line),
    async close() {
      child.stdin!.end();
      await once(child, 'exit');
    },
  };
}

const rssMb = () => process.memoryUsage.rss() / 2 ** 20;

describe('viewers that never read', () => {
  let srv: TestServer;
  let sessionId: string;

  beforeAll(async () => {
    // Real PostgreSQL when there is one: 250 replays are mostly database reads, and PGlite runs them on berth's own thread.
    srv = await startTestServer(dbKinds().at(-1)!, {
      BERTH_MAX_VIEWERS_PER_SESSION: String(VIEWERS),
      BERTH_MAX_VIEWERS_PER_KEY: String(VIEWERS + 10),
    });
    const folder = `vm${process.pid}`;
    const group = await json<{ id: string }>(
      await srv.api('/v1/groups', { method: 'POST', json: { name: folder, folder } }),
      201,
    );
    sessionId = (
      await json<{ id: string }>(
        await srv.api('/v1/sessions', { method: 'POST', json: { groupId: group.id } }),
        201,
      )
    ).id;
    // A long history of 1 KiB log lines (10 MB), which every viewer asks to replay.
    const line = 'x'.repeat(1000);
    for (let i = 0; i < EVENTS; i += 500)
      await appendEvents(
        srv.store.db,
        sessionId,
        Array.from({ length: 500 }, (_, j) => ({
          kind: 'log' as const,
          stream: 'stderr',
          data: { line: `${i + j} ${line}` },
        })),
      );
  });

  afterAll(async () => {
    await srv?.close();
  });

  it(`keep berth's memory within ${RSS_BUDGET_MB} MB with ${VIEWERS} of them, and give their places back`, async () => {
    const before = rssMb();
    const crowd = await slowViewers(srv, sessionId, VIEWERS + 5);
    // The cap: the session has room for exactly VIEWERS.
    expect(crowd.report).toEqual({ upgraded: VIEWERS, refused: { 429: 5 } });
    let peak = rssMb();
    // Replay runs until every viewer's buffers are full; sample while it does.
    for (let i = 0; i < 40; i++) {
      await sleep(250);
      peak = Math.max(peak, rssMb());
    }
    console.info(
      `RSS before ${before.toFixed(0)} MB, peak with ${VIEWERS} stuck viewers ${peak.toFixed(0)} MB`,
    );
    expect(peak - before).toBeLessThan(RSS_BUDGET_MB);
    await crowd.close();
    // Gone viewers give their places back: a full crowd fits again.
    const again = await slowViewers(srv, sessionId, VIEWERS);
    expect(again.report.upgraded).toBe(VIEWERS);
    await again.close();
  }, 120_000);

  it('refuses viewers past the per-key cap', async () => {
    const crowd = await slowViewers(srv, sessionId, VIEWERS);
    const folder = `vk${process.pid}`;
    const group = await json<{ id: string }>(
      await srv.api('/v1/groups', { method: 'POST', json: { name: folder, folder } }),
      201,
    );
    const second = (
      await json<{ id: string }>(
        await srv.api('/v1/sessions', { method: 'POST', json: { groupId: group.id } }),
        201,
      )
    ).id;
    const more = await slowViewers(srv, second, 15);
    // 250 on the first session + 10 here reach the key's 260; the remaining 5 are refused.
    expect(more.report).toEqual({ upgraded: 10, refused: { 429: 5 } });
    await more.close();
    await crowd.close();
  }, 120_000);
});
