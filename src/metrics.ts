import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export type WakeResult = 'started' | 'failed';
export type MessageStatus = 'accepted' | 'delivered' | 'done' | 'failed';
const TOKEN_KINDS = ['input', 'output', 'cache_creation', 'cache_read'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/**
 * What every layer records into; each call is a counter increment or one observation (no I/O, no
 * awaits), so hot paths stay cheap. `noMetrics` is the default where none is wired.
 */
export interface Metrics {
  /** A wake that claimed the session: the container started, or starting it failed. */
  wake(result: WakeResult, seconds: number): void;
  messages(status: MessageStatus, count: number): void;
  /** From a message's acceptance to its write to a container's stdin. */
  delivered(seconds: number): void;
  eventStored(kind: string): void;
  logLineShed(): void;
  proxyTraffic(groupId: string, requests: number, bytesIn: number, bytesOut: number): void;
  modelTokens(groupId: string, kind: TokenKind, count: number): void;
  /** Drops a deleted group's series, so series do not pile up with every group ever made. */
  groupDeleted(groupId: string): void;
  imageBuild(result: string): void;
  databaseError(where: string): void;
  runtimeError(where: string): void;
}

export const noMetrics: Metrics = {
  wake: () => {},
  messages: () => {},
  delivered: () => {},
  eventStored: () => {},
  logLineShed: () => {},
  proxyTraffic: () => {},
  modelTokens: () => {},
  groupDeleted: () => {},
  imageBuild: () => {},
  databaseError: () => {},
  runtimeError: () => {},
};

/** Values read at scrape time from the parts that hold them, instead of being counted twice. */
export interface MetricSources {
  sessionsByStatus(): Promise<Record<string, number>>;
  containersRunning(): number;
  viewersConnected(): number;
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const WAKE_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120];
const SESSION_STATUSES = ['idle', 'starting', 'running', 'stopping', 'failed'];

/** prom-client behind `Metrics`, one registry per server (tests run several servers in one process). */
export class PromMetrics implements Metrics {
  readonly registry = new Registry();
  #sources: MetricSources | undefined;
  readonly #wakes: Counter<'result'>;
  readonly #wakeSeconds: Histogram;
  readonly #deliverySeconds: Histogram;
  readonly #shed: Counter;
  readonly #proxyRequests: Counter<'group'>;
  readonly #proxyBytes: Counter<'group' | 'direction'>;
  readonly #tokens: Counter<'group' | 'kind'>;
  readonly #builds: Counter<'result'>;
  readonly #dbErrors: Counter<'where'>;
  readonly #runtimeErrors: Counter<'where'>;
  /** Per-event and per-message counts are plain numbers, handed to prom-client at scrape time. */
  readonly #messageCounts = new Map<string, number>();
  readonly #eventCounts = new Map<string, number>();

  constructor(onCollectError: (err: unknown) => void) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const sources = () => this.#sources;
    new Gauge({
      name: 'berth_sessions',
      help: 'Sessions by status, read from the database at scrape time.',
      labelNames: ['status'],
      registers,
      async collect() {
        const read = sources()?.sessionsByStatus;
        if (!read) return;
        const counts = await read().catch((err: unknown) => {
          onCollectError(err);
          return undefined;
        });
        // Without an answer, last scrape's counts would pass for current ones: no series until there is one.
        if (!counts) return this.reset();
        for (const status of new Set([...SESSION_STATUSES, ...Object.keys(counts)]))
          this.set({ status }, counts[status] ?? 0);
      },
    });
    new Gauge({
      name: 'berth_containers_running',
      help: 'Agent containers this instance runs.',
      registers,
      collect() {
        this.set(sources()?.containersRunning() ?? 0);
      },
    });
    new Gauge({
      name: 'berth_viewers_connected',
      help: 'Open WebSocket streams (session events and build output).',
      registers,
      collect() {
        this.set(sources()?.viewersConnected() ?? 0);
      },
    });
    this.#wakes = new Counter({
      name: 'berth_wakes_total',
      help: 'Wakes that claimed a session, by result.',
      labelNames: ['result'],
      registers,
    });
    this.#wakeSeconds = new Histogram({
      name: 'berth_wake_duration_seconds',
      help: 'From a wake request to a running container (slot wait included).',
      buckets: WAKE_BUCKETS,
      registers,
    });
    countedAtScrape(
      {
        name: 'berth_messages_total',
        help: 'Messages by status reached: accepted (posted), delivered (written to a container), done, failed.',
        labelNames: ['status'],
        registers,
      },
      this.#messageCounts,
    );
    this.#deliverySeconds = new Histogram({
      name: 'berth_message_delivery_seconds',
      help: "From a message's acceptance to its delivery to a container.",
      buckets: LATENCY_BUCKETS,
      registers,
    });
    countedAtScrape(
      {
        name: 'berth_events_appended_total',
        help: 'Events stored, by kind.',
        labelNames: ['kind'],
        registers,
      },
      this.#eventCounts,
    );
    this.#shed = new Counter({
      name: 'berth_log_lines_shed_total',
      help: 'Container log lines dropped because the database could not keep up.',
      registers,
    });
    this.#proxyRequests = new Counter({
      name: 'berth_proxy_requests_total',
      help: 'Requests through the credential proxy, by group (saved with the lease renewal and at run end).',
      labelNames: ['group'],
      registers,
    });
    this.#proxyBytes = new Counter({
      name: 'berth_proxy_bytes_total',
      help: 'Bytes through the credential proxy, by group and direction (in: from agents, out: to agents).',
      labelNames: ['group', 'direction'],
      registers,
    });
    this.#tokens = new Counter({
      name: 'berth_model_tokens_total',
      help: 'Model tokens metered by the credential proxy, by group and kind.',
      labelNames: ['group', 'kind'],
      registers,
    });
    this.#builds = new Counter({
      name: 'berth_image_builds_total',
      help: 'Group image builds ended, by result.',
      labelNames: ['result'],
      registers,
    });
    this.#dbErrors = new Counter({
      name: 'berth_database_errors_total',
      help: 'Database operations that failed because the database was unavailable, by where.',
      labelNames: ['where'],
      registers,
    });
    this.#runtimeErrors = new Counter({
      name: 'berth_runtime_errors_total',
      help: 'Container runtime commands that failed, by where.',
      labelNames: ['where'],
      registers,
    });
  }

  /** Set once the parts exist (server.ts); scrapes before that report zero. */
  setSources(sources: MetricSources): void {
    this.#sources = sources;
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  wake(result: WakeResult, seconds: number): void {
    this.#wakes.inc({ result });
    if (result === 'started') this.#wakeSeconds.observe(seconds);
  }
  messages(status: MessageStatus, count: number): void {
    this.#messageCounts.set(status, (this.#messageCounts.get(status) ?? 0) + count);
  }
  delivered(seconds: number): void {
    this.#deliverySeconds.observe(seconds);
  }
  eventStored(kind: string): void {
    this.#eventCounts.set(kind, (this.#eventCounts.get(kind) ?? 0) + 1);
  }
  logLineShed(): void {
    this.#shed.inc();
  }
  proxyTraffic(group: string, requests: number, bytesIn: number, bytesOut: number): void {
    this.#proxyRequests.inc({ group }, requests);
    this.#proxyBytes.inc({ group, direction: 'in' }, bytesIn);
    this.#proxyBytes.inc({ group, direction: 'out' }, bytesOut);
  }
  modelTokens(group: string, kind: TokenKind, count: number): void {
    if (count > 0) this.#tokens.inc({ group, kind }, count);
  }
  groupDeleted(group: string): void {
    this.#proxyRequests.remove({ group });
    for (const direction of ['in', 'out']) this.#proxyBytes.remove({ group, direction });
    for (const kind of TOKEN_KINDS) this.#tokens.remove({ group, kind });
  }
  imageBuild(result: string): void {
    this.#builds.inc({ result });
  }
  databaseError(where: string): void {
    this.#dbErrors.inc({ where });
  }
  runtimeError(where: string): void {
    this.#runtimeErrors.inc({ where });
  }
}

/** A counter with one label whose values live in `counts` (one Map update per event) until a scrape reads them. */
function countedAtScrape(
  opts: { name: string; help: string; labelNames: [string]; registers: Registry[] },
  counts: Map<string, number>,
): void {
  const label = opts.labelNames[0];
  new Counter({
    ...opts,
    collect() {
      this.reset();
      for (const [value, n] of counts) if (n > 0) this.inc({ [label]: value }, n);
    },
  });
}
