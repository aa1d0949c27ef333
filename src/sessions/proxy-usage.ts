import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { TrafficStats } from '../proxy/credential-proxy.ts';
import type { Queryable } from '../store/db.ts';
import { addProxyUsage } from '../store/sessions.ts';

/**
 * Adds the proxy traffic since the last save to the session row, so a session shows it while it
 * runs (the proxy counts per process, cumulatively).
 */
export class ProxyUsageSaver {
  readonly #saved = new Map<string, TrafficStats>();
  readonly #db: Queryable;
  readonly #current: (sessionId: string) => TrafficStats | undefined;
  readonly #log: Logger;
  readonly #metrics: Metrics;

  constructor(
    db: Queryable,
    current: (sessionId: string) => TrafficStats | undefined,
    deps: { log: Logger; metrics: Metrics },
  ) {
    this.#db = db;
    this.#current = current;
    this.#log = deps.log;
    this.#metrics = deps.metrics;
  }

  async save(sessionId: string): Promise<void> {
    const now = this.#current(sessionId);
    if (!now) return;
    const before = this.#saved.get(sessionId) ?? { requests: 0, bytesIn: 0, bytesOut: 0 };
    const delta = {
      requests: now.requests - before.requests,
      bytesIn: now.bytesIn - before.bytesIn,
      bytesOut: now.bytesOut - before.bytesOut,
    };
    if (delta.requests === 0 && delta.bytesIn === 0 && delta.bytesOut === 0) return;
    this.#saved.set(sessionId, now);
    const groupId = await addProxyUsage(this.#db, sessionId, delta).catch((err) =>
      this.#log.warn({ err, sessionId }, 'saving proxy usage failed'),
    );
    if (groupId) this.#metrics.proxyTraffic(groupId, delta.requests, delta.bytesIn, delta.bytesOut);
  }
}
