import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { awaitEvents, type BenchServer, newSession, postMessage } from './support.ts';
import type { BenchOptions, BenchRow } from './table.ts';

interface CannonResult {
  requests: { average: number };
  '2xx': number;
  non2xx: number;
  errors: number;
}

const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../node_modules/.bin/autocannon');

/** autocannon as a CLI child process: the load is generated outside berth's and the bench's event loops. */
async function cannon(url: string, seconds: number, headers: Record<string, string>): Promise<CannonResult> {
  const args = ['--json', '--connections', '10', '--duration', String(seconds), '--method', 'POST'];
  for (const [k, v] of Object.entries({ 'content-type': 'application/json', ...headers }))
    args.push('--headers', `${k}=${v}`);
  args.push('--body', JSON.stringify({ text: 'load' }), url);
  const { stdout } = await promisify(execFile)(cli, args, { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as CannonResult;
}

/**
 * POST /messages throughput against a bare Fastify route in berth's process doing the same
 * enqueueMessage on berth's database handle: the difference is routing, validation, auth,
 * presentation and the runner hand-off.
 */
export async function benchHttp(opts: BenchOptions, b: BenchServer): Promise<BenchRow[]> {
  const seconds = opts.smoke ? 1 : 5;
  // The berth session is woken once up front so the load hits a running container, not a wake per post.
  const berthSession = await newSession(b);
  await postMessage(b, berthSession, 'wake');
  const { next } = await awaitEvents(b, berthSession, 0, 1);
  const bareUrl = await b.bare(await newSession(b));
  try {
    const viaBerth = await cannon(`${b.url}/v1/sessions/${berthSession}/messages`, seconds, {
      authorization: `Bearer ${b.token}`,
    });
    // The baseline starts once berth has answered everything, so berth's backlog does not slow it.
    await awaitEvents(b, berthSession, next, viaBerth['2xx'], 'output', 120_000);
    const direct = await cannon(bareUrl, seconds, {});
    const failures = viaBerth.non2xx + viaBerth.errors + direct.non2xx + direct.errors;
    return [
      {
        name: 'POST /messages throughput',
        berth: viaBerth.requests.average,
        baseline: direct.requests.average,
        unit: 'req/s',
        baselineName: 'bare Fastify route in berth’s process, same enqueueMessage insert',
        higherIsBetter: true,
        note: `${seconds} s, 10 connections from an autocannon process; session awake, echo replies run alongside${failures ? `; ${failures} failed` : ''}`,
      },
    ];
  } finally {
    await b.closeBare();
  }
}
