import http from 'node:http';
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { createCredentialProxy } from '../../src/proxy/credential-proxy.ts';
import { createCredentialSource } from '../../src/proxy/credentials.ts';
import { startFakeModel } from '../support/fake-model.ts';
import { type BenchOptions, type BenchRow, formatTable, median, percentile } from './table.ts';

const KEY = 'sk-bench-real-key';
const MB = 1024 * 1024;

interface Target {
  base: string;
  key: string;
}

/** One request on a keep-alive agent; resolves with elapsed ms and body bytes once the body has ended. */
function timed(agent: http.Agent, target: Target, method: string, path: string, body?: string) {
  return new Promise<{ ms: number; bytes: number }>((resolve, reject) => {
    const started = performance.now();
    const req = http.request(
      `${target.base}${path}`,
      { method, agent, headers: { 'x-api-key': target.key, 'content-type': 'application/json' } },
      (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        res.on('end', () =>
          res.statusCode === 200
            ? resolve({ ms: performance.now() - started, bytes })
            : reject(new Error(`${path} answered ${res.statusCode}`)),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export async function benchProxy(opts: BenchOptions): Promise<BenchRow[]> {
  const requests = opts.smoke ? 20 : 500;
  const warmup = opts.smoke ? 3 : 50;
  const streamBytes = (opts.smoke ? 8 : 256) * MB;
  const streamRounds = opts.smoke ? 1 : 3;
  const deadline = performance.now() + (opts.smoke ? 20_000 : 120_000);

  const fake = await startFakeModel({ chunkDelayMs: 0 });
  const credentials = createCredentialSource({ apiKey: KEY });
  const proxy = await createCredentialProxy({
    host: '127.0.0.1',
    port: 0,
    upstream: fake.url,
    maxBodyBytes: 32 * MB,
    credentials,
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const direct: Target = { base: fake.url, key: KEY };
    const viaProxy: Target = {
      base: `http://127.0.0.1:${proxy.address.port}`,
      key: proxy.issue('bench').token,
    };
    const body = JSON.stringify({
      model: 'claude-bench',
      max_tokens: 16,
      messages: [{ role: 'user', content: 'hi' }],
    });

    const latency = { direct: [] as number[], proxy: [] as number[] };
    // Alternating the two paths exposes both to the same machine noise.
    for (let i = 0; i < warmup + requests && performance.now() < deadline; i++) {
      const d = await timed(agent, direct, 'POST', '/v1/messages', body);
      const p = await timed(agent, viaProxy, 'POST', '/v1/messages', body);
      fake.requests.length = 0;
      if (i < warmup) continue;
      latency.direct.push(d.ms);
      latency.proxy.push(p.ms);
    }

    const throughput = { direct: [] as number[], proxy: [] as number[] };
    for (let round = 0; round < streamRounds && performance.now() < deadline; round++) {
      for (const [name, target] of [
        ['direct', direct],
        ['proxy', viaProxy],
      ] as const) {
        const { ms, bytes } = await timed(agent, target, 'GET', `/bytes?n=${streamBytes}`);
        throughput[name].push(bytes / MB / (ms / 1000));
      }
    }

    const n = latency.proxy.length;
    const added = median(latency.proxy) - median(latency.direct);
    return [
      {
        name: 'proxy latency p50, small POST /v1/messages',
        berth: median(latency.proxy),
        baseline: median(latency.direct),
        unit: 'ms',
        baselineName: 'same request straight to the upstream',
        higherIsBetter: false,
        note: `added ${added.toFixed(3)} ms, n=${n}`,
      },
      {
        name: 'proxy latency p99, small POST /v1/messages',
        berth: percentile(latency.proxy, 99),
        baseline: percentile(latency.direct, 99),
        unit: 'ms',
        baselineName: 'same request straight to the upstream',
        higherIsBetter: false,
        note: `n=${n}`,
      },
      {
        name: `proxy streaming throughput, ${streamBytes / MB} MB SSE body`,
        berth: median(throughput.proxy),
        baseline: median(throughput.direct),
        unit: 'MB/s',
        baselineName: 'same stream straight from the upstream',
        higherIsBetter: true,
        note: `median of ${throughput.proxy.length}`,
      },
    ];
  } finally {
    agent.destroy();
    await proxy.close();
    credentials.close();
    await fake.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = await benchProxy({ smoke: process.argv.includes('--smoke') });
  console.log(formatTable(rows));
}
