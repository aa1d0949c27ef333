import { rmSync } from 'node:fs';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { createRuntime } from '../../src/runtime/index.ts';
import { identities } from '../../src/sessions/identity.ts';
import { lastEventSeq } from '../../src/store/events.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimeAnswers } from '../support/runtimes.ts';
import { startService } from '../support/service.ts';
import { baselineLive, baselineReplay } from './stream-baseline.ts';
import { type GroupResult, type ViewerProcess, viewerProcess } from './stream-load.ts';
import { awaitEvents, type BenchRuntime, newSession, postMessage, rssMb, startDatabase } from './support.ts';
import type { BenchOptions, BenchRow } from './table.ts';
import { formatTable } from './table.ts';

const VIEWERS = 10;

function pickRuntime(): BenchRuntime {
  const i = process.argv.indexOf('--runtime');
  if (i >= 0) return process.argv[i + 1] === 'docker' ? 'docker' : 'podman';
  return runtimeAnswers('podman') ? 'podman' : 'docker';
}

/**
 * Peak RSS and CPU seconds of this process (berth, or the baseline server; never the viewers) while
 * `work` runs: on a shared machine CPU seconds compare better than wall time.
 */
async function measured<T>(work: () => Promise<T>): Promise<{ result: T; peakMb: number; cpuS: number }> {
  let peak = rssMb(process.pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMb(process.pid));
  }, 50);
  const cpu = process.cpuUsage();
  try {
    const result = await work();
    const used = process.cpuUsage(cpu);
    return { result, peakMb: peak, cpuS: (used.user + used.system) / 1e6 };
  } finally {
    clearInterval(timer);
  }
}

function check(label: string, r: GroupResult): void {
  if (r.gaps > 0 || r.shed > 0) throw new Error(`${label}: ${r.gaps} gaps, ${r.shed} lines shed`);
}

interface BerthFigures {
  live: number;
  replay: number;
  liveV1: number;
  peakMb: number;
  cpuS: number;
  replayCpuS: number;
  frames: number;
  db: string;
}

/**
 * berth with the echo agent in a real container: `!stderr N 100` prints N lines to stderr, which
 * berth stores (batched inserts) and fans out to 10 live viewers in another process; then 10 late
 * viewers replay the stored range at once. Every viewer checks every seq and every line number.
 */
async function berthRun(
  runtime: BenchRuntime,
  image: string,
  viewers: ViewerProcess,
  n: number,
): Promise<BerthFigures> {
  const db = await startDatabase();
  const service = await startService(
    {
      BERTH_AGENT: 'echo',
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_EVENT_RETENTION_COUNT: '10000000',
      BERTH_STOP_GRACE_MS: '1000',
      DATABASE_URL: db.url,
    },
    { prefix: 'berth-bench-stream-' },
  );
  const { installId } = identities(service.config);
  const server = { ...service, server: service, installId, close: service.close };
  try {
    const sessionId = await newSession(server);
    const headers = { authorization: `Bearer ${service.apiToken}` };
    const streamUrl = (after: number) =>
      `${service.url.replace(/^http/, 'ws')}/v1/sessions/${sessionId}/stream?after=${after}`;
    // Warm: the container runs and has answered once before anything is timed.
    await postMessage(server, sessionId, 'hi');
    await awaitEvents(server, sessionId, 0, 1);
    const flood = async (protocol: string) => {
      await service.events.flushed(sessionId);
      const after = await lastEventSeq(service.store.db, sessionId);
      const group = `berth-live-${protocol}`;
      const url = streamUrl(after);
      const { done } = await viewers.open({
        group,
        url,
        count: VIEWERS,
        after,
        lines: n,
        protocols: protocol === 'berth.v2' ? ['berth.v2', 'berth.v1'] : [protocol],
        headers,
      });
      const started = performance.now();
      await postMessage(server, sessionId, `!stderr ${n} 100`);
      const result = await done;
      const seconds = (performance.now() - started) / 1000;
      check(group, result);
      viewers.close(group);
      return { seconds, after, result };
    };
    const { result: live, peakMb, cpuS } = await measured(() => flood('berth.v2'));
    // Late viewers: the stored range, replayed from the database by 10 viewers connecting at once.
    const replayStarted = performance.now();
    const replayCpu = process.cpuUsage();
    const late = await viewers.open({
      group: 'berth-replay',
      url: streamUrl(live.after),
      count: VIEWERS,
      after: live.after,
      lines: n,
      protocols: ['berth.v2', 'berth.v1'],
      headers,
    });
    const replayed = await late.done;
    const replaySeconds = (performance.now() - replayStarted) / 1000;
    const replayUsed = process.cpuUsage(replayCpu);
    check('berth-replay', replayed);
    viewers.close('berth-replay');
    const v1 = await flood('berth.v1');
    return {
      live: n / live.seconds,
      replay: replayed.events / replaySeconds,
      liveV1: n / v1.seconds,
      peakMb,
      cpuS,
      replayCpuS: (replayUsed.user + replayUsed.system) / 1e6,
      frames: Math.round(live.result.frames / VIEWERS),
      db: db.kind,
    };
  } finally {
    await server.close();
    const rt = createRuntime(runtime);
    for (const c of await rt.list({ 'berth.install': server.config.installId ?? '' }))
      await rt.remove(c.name).catch(() => {});
    rmSync(service.dataDir, { recursive: true, force: true });
    await db.close();
  }
}

/** Live fan-out and replay from a container's stderr through berth, each against a plain ws server in the same run. */
export async function benchStream(opts: BenchOptions): Promise<BenchRow[]> {
  const n = opts.smoke ? 2000 : 100_000;
  const runtimeName = pickRuntime();
  const runtime = createRuntime(runtimeName);
  const image = await ensureAgentImage(runtimeName);
  const viewers = viewerProcess();
  try {
    const berth = await berthRun(runtimeName, image, viewers, n);
    const {
      result: base,
      peakMb: basePeakMb,
      cpuS: baseCpuS,
    } = await measured(() => baselineLive(runtime, image, viewers, { n, count: VIEWERS, batch: true }));
    const baseV1 = await baselineLive(runtime, image, viewers, { n, count: VIEWERS, batch: false });
    const { result: baseReplay, cpuS: baseReplayCpuS } = await measured(() =>
      baselineReplay(viewers, { n, count: VIEWERS, batch: true }),
    );
    for (const [label, r] of [
      ['base', base],
      ['base-v1', baseV1],
      ['base-replay', baseReplay],
    ] as const)
      check(label, r.result);
    const where = `${runtimeName}, database ${berth.db}, viewers in a separate process`;
    return [
      {
        name: `stream fan-out, ${n} stderr lines of a container to ${VIEWERS} viewers (berth.v2)`,
        berth: berth.live,
        baseline: n / base.seconds,
        unit: 'lines/s',
        baselineName:
          'plain ws server relaying the same container stderr, one message per chunk, no persistence',
        higherIsBetter: true,
        note:
          `${where}; stored, zero loss, in order; ~${berth.frames} frames/viewer; ` +
          `process CPU ${berth.cpuS.toFixed(1)} s vs ${baseCpuS.toFixed(1)} s; ` +
          `peak RSS ${berth.peakMb.toFixed(0)} MB vs ${basePeakMb.toFixed(0)} MB`,
      },
      {
        name: `stream replay, ${n} stored events to ${VIEWERS} late viewers (berth.v2)`,
        berth: berth.replay,
        baseline: n / baseReplay.seconds,
        unit: 'events/s',
        baselineName: 'plain ws server sending the same events from memory',
        higherIsBetter: true,
        note:
          `${where}; concurrent replays share each page read; zero loss, in order; ` +
          `process CPU ${berth.replayCpuS.toFixed(1)} s vs ${baseReplayCpuS.toFixed(1)} s`,
      },
      {
        name: `stream fan-out, ${n} stderr lines to ${VIEWERS} viewers (berth.v1, one event per frame)`,
        berth: berth.liveV1,
        baseline: n / baseV1.seconds,
        unit: 'lines/s',
        baselineName: 'plain ws server relaying the same container stderr, one message per line',
        higherIsBetter: true,
        note: `${where}; zero loss, in order`,
      },
    ];
  } finally {
    await viewers.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await benchStream({ smoke: process.argv.includes('--smoke') });
  console.log(formatTable(rows));
}
