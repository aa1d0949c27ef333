import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isLoopbackName } from '../../config/parse.ts';
import type { Logger } from '../../logger.ts';
import type { PromMetrics } from '../../metrics.ts';

export interface MetricsListener {
  address: AddressInfo;
  close(): Promise<void>;
}

/**
 * Whether a request's Host names this machine. A web page whose own name an attacker re-points at
 * 127.0.0.1 (DNS rebinding) still sends that name, so it cannot read the keyless page from a browser.
 */
function hostIsLoopback(host: string | undefined): boolean {
  if (host === undefined) return true; // HTTP/1.0 clients send none, and browsers always send one
  const name = host.replace(/:\d*$/, '').replace(/^\[(.*)\]$/, '$1');
  return isLoopbackName(name);
}

/**
 * `GET /metrics` without a key on a loopback address of its own (BERTH_METRICS_ADDR; config refuses any
 * other), for a Prometheus on the same machine. Nothing else is served there.
 */
export async function listenMetrics(
  metrics: PromMetrics,
  at: { host: string; port: number },
  log: Logger,
): Promise<MetricsListener> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics is served here\n');
      return;
    }
    if (!hostIsLoopback(req.headers.host)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('scrape this address by a loopback name\n');
      return;
    }
    metrics.scrape().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType }).end(text),
      (err: unknown) => {
        log.error({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n');
      },
    );
  });
  // Scrapes are small: slow or idle clients are cut early.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(at.port, at.host, () => resolve());
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
