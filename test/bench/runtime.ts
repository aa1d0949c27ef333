import type { ContainerRuntime } from '../../src/runtime/index.ts';
import {
  awaitEvents,
  type BenchServer,
  childrenRssMb,
  emptyNodeRssMb,
  monitorRssMb,
  newSession,
  postMessage,
  startRawAgent,
  stopSession,
  streamOutputs,
} from './support.ts';
import { type BenchOptions, type BenchRow, median, percentile } from './table.ts';

export interface RuntimeBenchContext {
  berth: BenchServer;
  runtime: ContainerRuntime;
  image: string;
  /** berth's RSS after GC, measured right after start, before any session existed. */
  idleRssMb: number;
}

/** POST on a fresh session → first output event over a long-poll, in ms. */
async function berthColdReply(b: BenchServer): Promise<{ ms: number; sessionId: string; cursor: number }> {
  const sessionId = await newSession(b);
  const started = performance.now();
  await postMessage(b, sessionId, 'hello');
  const { next } = await awaitEvents(b, sessionId, 0, 1);
  return { ms: performance.now() - started, sessionId, cursor: next };
}

/** Raw `run -i` start plus one answered message, in ms. */
async function rawColdReply(runtime: ContainerRuntime, image: string): Promise<number> {
  const started = performance.now();
  const agent = startRawAgent(runtime, image);
  try {
    await agent.ask('hello');
    return performance.now() - started;
  } finally {
    await agent.close();
  }
}

const rt = (ctx: RuntimeBenchContext) => `raw ${ctx.runtime.name} run -i`;

export async function benchRuntime(opts: BenchOptions, ctx: RuntimeBenchContext): Promise<BenchRow[]> {
  const { berth: b, runtime, image } = ctx;
  const rows: BenchRow[] = [];
  const repeats = opts.smoke ? 1 : 5;
  const warmMessages = opts.smoke ? 5 : 50;
  const burst = opts.smoke ? 10 : 100;
  const fleet = opts.smoke ? 3 : 20;

  // 1. cold wake → first reply; the two paths alternate so both see the same machine noise.
  const cold = { berth: [] as number[], raw: [] as number[] };
  let warm: { sessionId: string; cursor: number } | undefined;
  for (let i = 0; i < repeats; i++) {
    const c = await berthColdReply(b);
    cold.berth.push(c.ms);
    if (warm) await stopSession(b, c.sessionId);
    warm ??= c;
    cold.raw.push(await rawColdReply(runtime, image));
  }
  rows.push({
    name: 'cold wake → first reply',
    berth: median(cold.berth),
    baseline: median(cold.raw),
    unit: 'ms',
    baselineName: `${rt(ctx)} answering one NDJSON message`,
    higherIsBetter: false,
    note: `median of ${repeats}; berth: POST + long-poll GET /events`,
  });

  // 2. warm round trips on the session woken above vs a container kept running by the bench; berth's
  // reply is seen over the WebSocket stream (as a chat front-end would) and, for comparison, a long-poll.
  const trips = { berth: [] as number[], poll: [] as number[], raw: [] as number[] };
  const raw = startRawAgent(runtime, image);
  let cursor = warm!.cursor;
  const outputs = await streamOutputs(b, warm!.sessionId, cursor);
  try {
    await raw.ask('warm-up');
    for (let i = 0; i < warmMessages; i++) {
      let started = performance.now();
      await postMessage(b, warm!.sessionId, `trip ${i}`);
      cursor = (await outputs.next()).seq;
      trips.berth.push(performance.now() - started);
      started = performance.now();
      await postMessage(b, warm!.sessionId, `poll ${i}`);
      cursor = (await awaitEvents(b, warm!.sessionId, cursor, 1)).next;
      await outputs.next();
      trips.poll.push(performance.now() - started);
      trips.raw.push(await raw.ask(`trip ${i}`));
    }
  } finally {
    outputs.close();
    await raw.close();
  }
  await stopSession(b, warm!.sessionId);
  for (const p of [50, 99]) {
    rows.push({
      name: `warm round trip p${p}`,
      berth: percentile(trips.berth, p),
      baseline: percentile(trips.raw, p),
      unit: 'ms',
      baselineName: 'stdin→stdout on a running container of the same image',
      higherIsBetter: false,
      note: `n=${trips.berth.length}; berth: POST → output event over the WebSocket stream`,
    });
  }
  rows.push({
    name: 'warm round trip p50, long-poll',
    berth: percentile(trips.poll, 50),
    baseline: percentile(trips.raw, 50),
    unit: 'ms',
    baselineName: 'stdin→stdout on a running container of the same image',
    higherIsBetter: false,
    note: `n=${trips.poll.length}; berth: POST → GET /events?wait= answered`,
  });

  // 4a. a burst of concurrent posts to one asleep session: they must share one container. Repeated,
  // alternating with raw starts, so both see the same machine noise.
  const bursts = { berth: [] as number[], raw: [] as number[] };
  let wakes = 0;
  for (let i = 0; i < repeats; i++) {
    const burstSession = await newSession(b);
    const burstStart = performance.now();
    await Promise.all(Array.from({ length: burst }, (_, j) => postMessage(b, burstSession, `burst ${j}`)));
    await awaitEvents(b, burstSession, 0, burst, 'output', 120_000);
    bursts.berth.push(performance.now() - burstStart);
    const lifecycle = await awaitEvents(b, burstSession, 0, 1, 'lifecycle');
    wakes = Math.max(wakes, lifecycle.events.filter((e) => e.data.type === 'wake').length);
    await stopSession(b, burstSession);
    bursts.raw.push(await rawColdReply(runtime, image));
  }
  rows.push({
    name: `${burst} concurrent posts to one asleep session → all answered`,
    berth: median(bursts.berth),
    baseline: median(bursts.raw),
    unit: 'ms',
    baselineName: `one ${rt(ctx)} start answering one message`,
    higherIsBetter: false,
    note: `median of ${repeats}; containers started per burst: ${wakes}`,
  });

  // 4b. many sessions woken at once vs as many raw containers started in parallel.
  const sessions = await Promise.all(Array.from({ length: fleet }, () => newSession(b)));
  const before = await b.memory();
  const fleetStart = performance.now();
  await Promise.all(
    sessions.map(async (id) => {
      await postMessage(b, id, 'hello');
      await awaitEvents(b, id, 0, 1, 'output', 120_000);
    }),
  );
  const fleetMs = performance.now() - fleetStart;
  const rawFleetStart = performance.now();
  const agents = Array.from({ length: fleet }, () => startRawAgent(runtime, image));
  let rawFleetMs: number;
  try {
    await Promise.all(agents.map((a) => a.ask('hello')));
    rawFleetMs = performance.now() - rawFleetStart;
  } finally {
    await Promise.all(agents.map((a) => a.close()));
  }
  rows.push({
    name: `${fleet} sessions woken at once → all replied`,
    berth: fleetMs,
    baseline: rawFleetMs,
    unit: 'ms',
    baselineName: `${fleet} × ${rt(ctx)} in parallel, one message each`,
    higherIsBetter: false,
  });

  // 5. memory: berth's own growth per running session (after GC), and the runtime CLI process each keeps.
  const after = await b.memory();
  const nodeRss = await emptyNodeRssMb();
  const running = (await runtime.list({ 'berth.install': b.installId })).filter((c) => c.running).length;
  const cli = childrenRssMb(b.pid, runtime.name);
  const monitors = monitorRssMb(sessions);
  const perMonitor = monitors.count ? monitors.mb / monitors.count : Number.NaN;
  const monitorName = `${runtime.name === 'podman' ? 'conmon' : 'runtime monitor'} per container (RSS)`;
  rows.push(
    {
      name: 'service RSS, idle',
      berth: ctx.idleRssMb,
      baseline: nodeRss,
      unit: 'MB',
      baselineName: 'empty node process',
      higherIsBetter: false,
      note: 'berth in its own process, after GC',
    },
    {
      name: 'berth memory per running session',
      berth: (after.heapMb - before.heapMb) / fleet,
      baseline: perMonitor,
      unit: 'MB',
      baselineName: monitorName,
      higherIsBetter: false,
      note: `JS heap and external memory growth ÷ ${fleet} after GC with ${running} sessions running; RSS growth ÷ ${fleet}: ${((after.rssMb - before.rssMb) / fleet).toFixed(2)} MB (RSS does not shrink back reliably)`,
    },
    {
      name: `${runtime.name} CLI process per running session`,
      berth: cli.count ? cli.mb / cli.count : Number.NaN,
      baseline: perMonitor,
      unit: 'MB',
      baselineName: monitorName,
      higherIsBetter: false,
      note: `${cli.count} attached \`${runtime.name} run -i\` processes, ${cli.mb.toFixed(0)} MB; gone once runs attach over the runtime's API socket or a socket the runner dials`,
    },
  );
  return rows;
}
