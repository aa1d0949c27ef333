import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { encodeMessage, encodeStart, FrameParser, newFrameNonce } from '../../src/protocol/frames.ts';
import { type ContainerRuntime, LineSplitter } from '../../src/runtime/index.ts';
import type { GroupResult, ViewerProcess } from './stream-load.ts';
import { rawSpec } from './support.ts';

/** Events per message when the baseline batches, as berth.v2 does. */
const BATCH = 256;

const eventJson = (seq: number, line: string) =>
  JSON.stringify({
    seq,
    kind: 'log',
    stream: 'stderr',
    generation: 1,
    time: new Date().toISOString(),
    data: { line },
  });

async function plainServer(): Promise<{ wss: WebSocketServer; url: string; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  return {
    wss,
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise((resolve) => wss.close(resolve));
    },
  };
}

const frameOf = (events: string[], batch: boolean) =>
  batch ? `{"type":"events","events":[${events.join(',')}]}` : `{"type":"event",${events[0]!.slice(1)}`;

/**
 * The floor for live fan-out: the same container's `!stderr` lines, split and framed as events by a
 * plain `ws` server (one message per stderr chunk when batching, else one per line) to the same
 * viewers, with no persistence, auth or queue accounting. Timed from the message write to the last viewer.
 */
export async function baselineLive(
  runtime: ContainerRuntime,
  image: string,
  viewers: ViewerProcess,
  opts: { n: number; count: number; batch: boolean },
): Promise<{ seconds: number; result: GroupResult }> {
  const server = await plainServer();
  const spec = rawSpec(image);
  spec.env.BERTH_AGENT_TEST_HOOKS = '1';
  const proc = runtime.run(spec);
  try {
    const nonce = newFrameNonce();
    const parser = new FrameParser(nonce);
    let replied: (() => void) | undefined;
    proc.stdout.on('data', (chunk: Buffer) => {
      for (const item of parser.push(chunk))
        if (item.kind === 'frame' && item.frame.type === 'reply') replied?.();
    });
    const reply = () => new Promise<void>((resolve) => (replied = resolve));
    proc.stdin.write(encodeStart(nonce));
    const warm = reply();
    proc.stdin.write(encodeMessage({ id: 'warm', seq: 1, text: 'hi' }));
    await warm;
    const group = `base-live-${opts.batch}`;
    const { done } = await viewers.open({
      group,
      url: server.url,
      count: opts.count,
      after: 0,
      lines: opts.n,
      protocols: [],
      headers: {},
    });
    const lines = new LineSplitter();
    let seq = 0;
    proc.stderr.on('data', (chunk: Buffer) => {
      const events = lines.push(chunk).map((line) => eventJson(++seq, line));
      const frames = opts.batch
        ? Array.from({ length: Math.ceil(events.length / BATCH) }, (_, i) =>
            frameOf(events.slice(i * BATCH, (i + 1) * BATCH), true),
          )
        : events.map((e) => frameOf([e], false));
      for (const frame of frames) for (const client of server.wss.clients) client.send(frame);
    });
    const started = performance.now();
    proc.stdin.write(encodeMessage({ id: 'flood', seq: 2, text: `!stderr ${opts.n} 100` }));
    const result = await done;
    const seconds = (performance.now() - started) / 1000;
    viewers.close(group);
    return { seconds, result };
  } finally {
    proc.stdin.end();
    await runtime.kill(spec.name).catch(() => {});
    await proc.exited;
    await runtime.remove(spec.name).catch(() => {});
    await server.close();
  }
}

/** The floor for replay: the same number of events, encoded once and held in memory, sent by a plain `ws` server to viewers connecting at once. */
export async function baselineReplay(
  viewers: ViewerProcess,
  opts: { n: number; count: number; batch: boolean },
): Promise<{ seconds: number; result: GroupResult }> {
  const server = await plainServer();
  try {
    const events = Array.from({ length: opts.n }, (_, i) =>
      eventJson(i + 1, `${`stderr line ${i + 1}`.padEnd(100, '.')}`),
    );
    const frames = opts.batch
      ? Array.from({ length: Math.ceil(events.length / BATCH) }, (_, i) =>
          frameOf(events.slice(i * BATCH, (i + 1) * BATCH), true),
        )
      : events.map((e) => frameOf([e], false));
    server.wss.on('connection', (client) => {
      for (const frame of frames) client.send(frame);
    });
    const group = `base-replay-${opts.batch}`;
    const started = performance.now();
    const { done } = await viewers.open({
      group,
      url: server.url,
      count: opts.count,
      after: 0,
      lines: opts.n,
      protocols: [],
      headers: {},
    });
    const result = await done;
    const seconds = (performance.now() - started) / 1000;
    viewers.close(group);
    return { seconds, result };
  } finally {
    await server.close();
  }
}
