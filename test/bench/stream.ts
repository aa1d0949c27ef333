import { rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { startService } from '../support/service.ts';
import { type BenchDatabase, newSession, startDatabase } from './support.ts';
import { type BenchOptions, type BenchRow, formatTable } from './table.ts';

const VIEWERS = 10;
/** Appends in flight at once: below the event log's shedding threshold, so no line is dropped. */
const WINDOW = 2000;

const line = (i: number) => `stderr line ${i} `.padEnd(100, '.');

/** Peak resident set size of this process (server and viewers alike) while `work` runs. */
async function peakRss<T>(work: () => Promise<T>): Promise<{ result: T; peakMb: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 50);
  try {
    const result = await work();
    return { result, peakMb: Math.max(peak, process.memoryUsage.rss()) / 1024 ** 2 };
  } finally {
    clearInterval(timer);
  }
}

/** A viewer that checks every frame continues the previous seq; `done` settles at seq `n` or at a break. */
function viewer(url: string, n: number, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, { headers });
  let last = 0;
  let broken = 0;
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const done = new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const { seq } = JSON.parse(data.toString()) as { seq: number };
      if (seq !== last + 1) broken++;
      last = seq;
      if (last >= n) resolve();
    });
    ws.once('close', (code) => reject(new Error(`viewer closed with ${code} at seq ${last}/${n}`)));
  });
  return { ws, opened, done, lost: () => broken };
}

/** N stderr lines appended through the event log (stored in batches, then fanned out) to 10 live viewers. */
async function floodBerth(db: BenchDatabase, n: number) {
  const server = await startService(
    { BERTH_EVENT_RETENTION_COUNT: '10000000', DATABASE_URL: db.url },
    { prefix: 'berth-bench-stream-' },
  );
  const { url, dataDir } = server;
  try {
    const sessionId = await newSession(server);
    const wsUrl = `${url.replace(/^http/, 'ws')}/v1/sessions/${sessionId}/stream?after=0`;
    const viewers = Array.from({ length: VIEWERS }, () =>
      viewer(wsUrl, n, { authorization: `Bearer ${server.apiToken}` }),
    );
    await Promise.all(viewers.map((v) => v.opened));
    const { result: seconds, peakMb } = await peakRss(async () => {
      const started = performance.now();
      let shed = 0;
      for (let from = 1; from <= n; from += WINDOW) {
        const batch = [];
        for (let i = from; i < Math.min(from + WINDOW, n + 1); i++)
          batch.push(
            server.events.append(sessionId, { kind: 'log', stream: 'stderr', data: { line: line(i) } }),
          );
        shed += (await Promise.all(batch)).filter((row) => row === undefined).length;
      }
      if (shed > 0) throw new Error(`${shed} lines were shed by the event log`);
      await Promise.all(viewers.map((v) => v.done));
      return (performance.now() - started) / 1000;
    });
    // Late viewers: the whole stored timeline replayed from the database, paged per viewer.
    const late = Array.from({ length: VIEWERS }, () =>
      viewer(wsUrl, n, { authorization: `Bearer ${server.apiToken}` }),
    );
    const replayStarted = performance.now();
    await Promise.all(late.map((v) => v.done));
    const replaySeconds = (performance.now() - replayStarted) / 1000;
    const lost = [...viewers, ...late].reduce((sum, v) => sum + v.lost(), 0);
    for (const v of [...viewers, ...late]) v.ws.close();
    return { seconds, replaySeconds, peakMb, lost };
  } finally {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The same frames from a bare `ws` server to 10 viewers: no auth, no database, no queue accounting. */
async function floodBaseline(n: number) {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  try {
    const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
    const viewers = Array.from({ length: VIEWERS }, () => viewer(url, n));
    await Promise.all(viewers.map((v) => v.opened));
    const { result: seconds, peakMb } = await peakRss(async () => {
      const started = performance.now();
      for (let from = 1; from <= n; from += WINDOW) {
        for (let i = from; i < Math.min(from + WINDOW, n + 1); i++) {
          const frame = JSON.stringify({
            type: 'event',
            seq: i,
            kind: 'log',
            stream: 'stderr',
            generation: null,
            time: new Date().toISOString(),
            data: { line: line(i) },
          });
          for (const client of wss.clients) client.send(frame);
        }
        // Yield between batches as the event log does between flushes, so viewers read meanwhile.
        await new Promise((resolve) => setImmediate(resolve));
      }
      await Promise.all(viewers.map((v) => v.done));
      return (performance.now() - started) / 1000;
    });
    const lost = viewers.reduce((sum, v) => sum + v.lost(), 0);
    for (const v of viewers) v.ws.close();
    return { seconds, peakMb, lost };
  } finally {
    for (const client of wss.clients) client.terminate();
    await new Promise((resolve) => wss.close(resolve));
  }
}

/** Live fan-out: events/s from append to the last of 10 viewers, against a plain ws server with no persistence. */
export async function benchStream(opts: BenchOptions): Promise<BenchRow[]> {
  const n = opts.smoke ? 2000 : 50_000;
  const db = await startDatabase();
  try {
    const berth = await floodBerth(db, n);
    const base = await floodBaseline(n);
    const loss = berth.lost + base.lost;
    return [
      {
        name: `stream fan-out, ${n} log lines to ${VIEWERS} viewers`,
        berth: n / berth.seconds,
        baseline: n / base.seconds,
        unit: 'events/s',
        baselineName: 'plain ws server, same frames, no persistence',
        higherIsBetter: true,
        note:
          `database ${db.kind}; peak RSS during flood ${berth.peakMb.toFixed(0)} MB vs ${base.peakMb.toFixed(0)} MB ` +
          `(viewers in-process); ${loss === 0 ? 'zero loss' : `${loss} gaps`}`,
      },
      {
        name: `stream replay, ${n} stored events to ${VIEWERS} late viewers`,
        berth: n / berth.replaySeconds,
        baseline: n / base.seconds,
        unit: 'events/s',
        baselineName: 'plain ws server, same frames, no persistence',
        higherIsBetter: true,
        note: `after=0, each viewer pages the database on its own; ${loss === 0 ? 'zero loss' : `${loss} gaps`}`,
      },
    ];
  } finally {
    await db.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await benchStream({ smoke: process.argv.includes('--smoke') });
  console.log(formatTable(rows));
}
