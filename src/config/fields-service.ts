import path from 'node:path';
import type { Config } from '../config.ts';
import { parseHostRule } from './host-rules.ts';
import {
  ConfigError,
  type Field,
  flag,
  int,
  listenHost,
  loopbackAddress,
  MINUTE,
  oneOf,
  optional,
  str,
  url,
} from './parse.ts';
import { parsePrices } from './prices.ts';

/** Settings of the service itself: HTTP, database, credentials, proxies, network policy. */
export const serviceFields = [
  {
    key: 'host',
    env: 'BERTH_HOST',
    parse: listenHost,
    doc: 'Address the HTTP API listens on: one interface; wildcards (0.0.0.0, ::) are refused.',
    shown: '`127.0.0.1`',
  },
  { key: 'port', env: 'BERTH_PORT', parse: int(3000, 0, 65535), doc: 'HTTP port (0 picks a free one).' },
  {
    key: 'httpRequestTimeoutMs',
    env: 'BERTH_HTTP_REQUEST_TIMEOUT_MS',
    parse: int(30_000, 100, 10 * MINUTE),
    doc: 'A request (headers and body) not received in full within this is answered 408 and closed.',
  },
  {
    key: 'httpHeadersTimeoutMs',
    env: 'BERTH_HTTP_HEADERS_TIMEOUT_MS',
    parse: int(10_000, 100, 10 * MINUTE),
    doc: 'Time to receive request headers (capped at the request timeout).',
  },
  {
    key: 'httpIdleTimeoutMs',
    env: 'BERTH_HTTP_IDLE_TIMEOUT_MS',
    parse: int(2 * MINUTE, 100, 60 * MINUTE),
    doc: 'An HTTP connection silent this long is closed (keep above the 60 s long-poll; WebSockets are exempt).',
  },
  {
    key: 'httpKeepAliveTimeoutMs',
    env: 'BERTH_HTTP_KEEP_ALIVE_TIMEOUT_MS',
    parse: int(5_000, 100, 10 * MINUTE),
    doc: 'How long an idle keep-alive connection waits for its next request.',
  },
  {
    key: 'httpMaxConnections',
    env: 'BERTH_HTTP_MAX_CONNECTIONS',
    parse: int(1024, 1, 1_000_000),
    doc: 'Open connections (WebSockets included) accepted at once; further ones are closed on accept.',
  },
  {
    key: 'dataDir',
    env: 'BERTH_DATA_DIR',
    parse: (raw) => path.resolve(raw || './data'),
    shown: '`./data`',
    doc: 'Data directory: embedded database, API token, group and session folders.',
  },
  {
    key: 'databaseUrl',
    env: 'DATABASE_URL',
    parse: url(undefined, ['postgres:', 'postgresql:']),
    doc: 'PostgreSQL URL; unset uses embedded PGlite in the data dir.',
  },
  {
    key: 'runtime',
    env: 'BERTH_RUNTIME',
    parse: oneOf('auto', ['auto', 'docker', 'podman', 'container'] as const),
    doc: 'Container runtime; `auto` picks podman, then docker, then Apple container from PATH.',
  },
  { key: 'image', env: 'BERTH_IMAGE', parse: str('berth-agent:latest'), doc: 'Agent image tag.' },
  {
    key: 'apiToken',
    env: 'BERTH_API_TOKEN',
    parse: optional,
    doc: 'Bearer token for the API; unset generates one in the data dir.',
  },
  {
    key: 'keyPepperFile',
    env: 'BERTH_KEY_PEPPER_FILE',
    parse: (raw, env) => path.resolve(raw || path.join(env.BERTH_DATA_DIR || './data', 'key-pepper')),
    shown: '`<data dir>/key-pepper`',
    doc: 'Secret that API key digests are keyed with; generated when missing. Instances sharing a database share it.',
  },
  {
    key: 'agent',
    env: 'BERTH_AGENT',
    parse: oneOf('claude', ['claude', 'echo'] as const),
    doc: 'Agent mode passed to the runner: `claude` (Claude Agent SDK with tools) or `echo` (no model; tests and benchmarks).',
  },
  {
    key: 'agentMaxRetries',
    env: 'BERTH_AGENT_MAX_RETRIES',
    parse: (raw, env) =>
      raw === undefined || raw === '' ? undefined : int(0, 0, 20)(raw, env, 'BERTH_AGENT_MAX_RETRIES'),
    doc: "Retries of a failed model call (429, 529, 5xx, cut stream) before the turn ends with an error; unset keeps Claude Code's default.",
  },
  {
    key: 'buildImage',
    env: 'BERTH_BUILD_IMAGE',
    parse: (raw, env) => oneOf('true', ['true', 'false'] as const)(raw, env, 'BERTH_BUILD_IMAGE') === 'true',
    doc: 'Build the agent image (BERTH_IMAGE) in the background at start when it is missing.',
  },
  {
    key: 'agentTestHooks',
    env: 'BERTH_AGENT_TEST_HOOKS',
    parse: flag(false),
    doc: 'Test suites only: lets the `echo` agent run its `!` hooks (read files, print its environment, exit).',
  },
  {
    key: 'idleTimeoutMs',
    env: 'BERTH_IDLE_TIMEOUT_MS',
    parse: int(30 * MINUTE, 100, 7 * 24 * 60 * MINUTE),
    doc: 'Idle time before a container is asked to close.',
  },
  {
    key: 'hardTimeoutMs',
    env: 'BERTH_HARD_TIMEOUT_MS',
    parse: int(5 * MINUTE, 100, 24 * 60 * MINUTE),
    doc: 'A turn with no heartbeat for this long is stopped.',
  },
  {
    key: 'stopGraceMs',
    env: 'BERTH_STOP_GRACE_MS',
    parse: int(10_000, 0, 10 * MINUTE),
    doc: 'Grace period between close/stop and kill.',
  },
  {
    key: 'maxContainers',
    env: 'BERTH_MAX_CONTAINERS',
    parse: int(16, 1, 10_000),
    doc: 'Running containers per instance; further wakes queue.',
  },
  {
    key: 'maxAttempts',
    env: 'BERTH_MAX_ATTEMPTS',
    parse: int(3, 1, 100),
    doc: 'Deliveries of one message before it is marked failed.',
  },
  {
    key: 'metricsAddress',
    env: 'BERTH_METRICS_ADDR',
    parse: loopbackAddress,
    doc: 'Also serve `GET /metrics` without a key on this loopback `host:port` (e.g. `127.0.0.1:9464`) for a local Prometheus; on the API it stays admin-only.',
  },
  {
    key: 'proxyHost',
    env: 'BERTH_PROXY_HOST',
    parse: optional,
    doc: 'Credential proxy bind address; unset detects the bridge gateway (never 0.0.0.0).',
  },
  {
    key: 'proxyPort',
    env: 'BERTH_PROXY_PORT',
    parse: int(0, 0, 65535),
    doc: 'Credential proxy port (0: free port).',
  },
  {
    key: 'proxyUpstream',
    env: 'BERTH_PROXY_UPSTREAM',
    parse: (raw, env) =>
      url('https://api.anthropic.com', ['http:', 'https:'])(raw, env, 'BERTH_PROXY_UPSTREAM')!,
    doc: 'Model API origin the proxy forwards to.',
  },
  {
    key: 'proxyMaxBodyBytes',
    env: 'BERTH_PROXY_MAX_BODY_BYTES',
    parse: int(32 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    doc: 'Largest request body the proxy forwards.',
  },
  {
    key: 'modelPrices',
    env: 'BERTH_MODEL_PRICES',
    parse: parsePrices,
    doc: 'Model prices for cost estimates, JSON `{"model": {"input": 3, "output": 15, "cacheWrite": 3.75, "cacheRead": 0.3}}` in USD per million tokens, laid over defaults for current Claude models; a key matches that model and its dated ids; `*` is the fallback (default: the highest list price).',
  },
  {
    key: 'networkPolicy',
    env: 'BERTH_NETWORK_POLICY',
    parse: oneOf('none', ['none', 'allowlist', 'open'] as const),
    doc: 'Default network policy of groups: `none` (model only), `allowlist` (plus BERTH_EGRESS_ALLOWLIST), `open`.',
  },
  {
    key: 'egressAllowlist',
    env: 'BERTH_EGRESS_ALLOWLIST',
    parse: (raw) => {
      const entries = (raw ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = entries.map(parseHostRule).filter((r): r is string => typeof r === 'string');
      if (bad.length > 0) throw new ConfigError(`BERTH_EGRESS_ALLOWLIST: ${bad.join('; ')}`);
      return entries;
    },
    doc: 'Hosts `allowlist` groups may reach: `example.com`, `*.example.com`, `host:port` (no port: 80 and 443), comma-separated.',
  },
] as const satisfies readonly Field<keyof Config>[];
