import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { enqueueMessage } from '../../src/store/messages.ts';
import { awaitEvents, type BenchServer, newSession, postMessage } from './support.ts';
import type { BenchOptions, BenchRow } from './table.ts';

interface CannonResult {
  requests: { average: number };
  non2xx: number;
  errors: number;
}
type Cannon = (opts: Record<string, unknown>) => Promise<CannonResult>;

async function cannon(url: string, seconds: number, headers: Record<string, string>): Promise<CannonResult> {
  // autocannon ships no type declarations.
  const { default: run } = (await import('autocannon' as string)) as { default: Cannon };
  return run({
    url,
    method: 'POST',
    connections: 10,
    duration: seconds,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ text: 'load' }),
  });
}

/**
 * POST /messages throughput against a bare Fastify route doing the same enqueueMessage on the same
 * database handle: the difference is routing, validation, auth, presentation and the runner hand-off.
 */
export async function benchHttp(opts: BenchOptions, b: BenchServer): Promise<BenchRow[]> {
  const seconds = opts.smoke ? 1 : 5;
  // The berth session is woken once up front so the load hits a running container, not a wake per post.
  const berthSession = await newSession(b);
  await postMessage(b, berthSession, 'wake');
  await awaitEvents(b, berthSession, 0, 1);
  const bareSession = await newSession(b);

  const bare = Fastify({ logger: false });
  bare.post('/messages', async (_request, reply) => {
    const { message } = await enqueueMessage(b.server.store.db, { sessionId: bareSession, body: 'load' });
    reply.code(202);
    return { id: message.id, seq: message.seq };
  });
  await bare.listen({ host: '127.0.0.1', port: 0 });
  try {
    const bareUrl = `http://127.0.0.1:${(bare.server.address() as AddressInfo).port}/messages`;
    const viaBerth = await cannon(`${b.url}/v1/sessions/${berthSession}/messages`, seconds, {
      authorization: `Bearer ${b.server.apiToken}`,
    });
    const direct = await cannon(bareUrl, seconds, {});
    const failures = viaBerth.non2xx + viaBerth.errors + direct.non2xx + direct.errors;
    return [
      {
        name: 'POST /messages throughput',
        berth: viaBerth.requests.average,
        baseline: direct.requests.average,
        unit: 'req/s',
        baselineName: 'bare Fastify route, same enqueueMessage insert',
        higherIsBetter: true,
        note: `${seconds} s, 10 connections; session already awake, echo replies run alongside${failures ? `; ${failures} failed` : ''}`,
      },
    ];
  } finally {
    await bare.close();
  }
}
