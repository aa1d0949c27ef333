import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { homedir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { AppError } from './errors.ts';
import { parseHostRule } from './proxy/host-rules.ts';
import type { RuntimeName } from './runtime/types.ts';

export type { RuntimeName };

export interface Config {
  host: string;
  port: number;
  dataDir: string;
  /** Unset: embedded PGlite under `<dataDir>/pglite`. */
  databaseUrl: string | undefined;
  runtime: 'auto' | RuntimeName;
  image: string;
  apiToken: string | undefined;
  agent: 'anthropic' | 'echo';
  idleTimeoutMs: number;
  hardTimeoutMs: number;
  stopGraceMs: number;
  maxContainers: number;
  maxAttempts: number;
  proxyHost: string | undefined;
  proxyPort: number;
  proxyUpstream: string;
  proxyMaxBodyBytes: number;
  /** Configured model prices (USD per million tokens), laid over the defaults in src/proxy/pricing.ts. */
  modelPrices: Record<string, ModelPrice>;
  networkPolicy: 'none' | 'allowlist' | 'open';
  egressAllowlist: string[];
  egressResolve: Record<string, string>;
  credentialsFile: string | undefined;
  anthropicApiKey: string | undefined;
  claudeCodeOauthToken: string | undefined;
  mountAllowlist: string;
  projectRoot: string;
  installId: string | undefined;
  leaseMs: number;
  reconcileIntervalMs: number;
  eventRetentionCount: number;
  eventRetentionMs: number;
  containerMemoryMb: number;
  containerCpus: number;
  containerPids: number;
  buildTimeoutMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  timezone: string;
  searchPath: string;
}

type Env = Record<string, string | undefined>;

/** USD per million tokens of each kind; cache writes default to 1.25 × input, cache reads to 0.1 × input. */
export interface ModelPrice {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

const PRICE_FIELDS = ['input', 'output', 'cacheWrite', 'cacheRead'] as const;

function parsePrices(raw: string | undefined): Record<string, ModelPrice> {
  if (raw === undefined || raw === '') return {};
  const shape = 'must be a JSON object of model → {input, output, cacheWrite?, cacheRead?}';
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new ConfigError(`BERTH_MODEL_PRICES ${shape}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new ConfigError(`BERTH_MODEL_PRICES ${shape}`);
  const out: Record<string, ModelPrice> = {};
  for (const [model, v] of Object.entries(parsed as Record<string, Record<string, unknown>>)) {
    const where = `BERTH_MODEL_PRICES "${model}"`;
    if (!/^(\*|[A-Za-z0-9][A-Za-z0-9._:@/-]{0,199})$/.test(model))
      throw new ConfigError(`${where} is not a model name`);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ConfigError(`${where} ${shape}`);
    const extra = Object.keys(v).find((k) => !(PRICE_FIELDS as readonly string[]).includes(k));
    if (extra) throw new ConfigError(`${where}.${extra} is not a price field (${PRICE_FIELDS.join(', ')})`);
    const input = v.input as number;
    const price = { cacheWrite: input * 1.25, cacheRead: input / 10, ...v } as ModelPrice;
    for (const field of PRICE_FIELDS) {
      const n = price[field];
      if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > 1_000_000)
        throw new ConfigError(`${where}.${field} must be a number of USD per million tokens`);
    }
    out[model] = price;
  }
  return out;
}

export class ConfigError extends AppError {
  override name = 'ConfigError';
  constructor(message: string) {
    super('CONFIG_INVALID', message);
  }
}

interface Field<K extends keyof Config> {
  key: K;
  env: string;
  parse: (raw: string | undefined, env: Env) => Config[K];
  doc: string;
}

const int =
  (fallback: number, min: number, max: number) =>
  (raw: string | undefined, _env: Env, name = ''): number => {
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };

const num =
  (fallback: number, min: number, max: number) =>
  (raw: string | undefined, _env: Env, name = ''): number => {
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new ConfigError(`${name} must be a number between ${min} and ${max}, got "${raw}"`);
    return n;
  };

const oneOf =
  <T extends string>(fallback: T, allowed: readonly T[]) =>
  (raw: string | undefined, _env: Env, name = ''): T => {
    if (raw === undefined || raw === '') return fallback;
    if (!(allowed as readonly string[]).includes(raw))
      throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
    return raw as T;
  };

const str =
  (fallback: string) =>
  (raw: string | undefined): string =>
    raw === undefined || raw === '' ? fallback : raw;

const optional = (raw: string | undefined): string | undefined =>
  raw === undefined || raw === '' ? undefined : raw;

const url =
  (fallback: string | undefined, protocols: string[]) =>
  (raw: string | undefined, _env: Env, name = ''): string | undefined => {
    const value = raw === undefined || raw === '' ? fallback : raw;
    if (value === undefined) return undefined;
    let parsed: URL;
    try {
      parsed = new URL(value);
    } catch {
      throw new ConfigError(`${name} must be a URL (${protocols.join(' or ')}), got "${redact(value)}"`);
    }
    if (!protocols.includes(parsed.protocol))
      throw new ConfigError(`${name} must use ${protocols.join(' or ')}, got "${parsed.protocol}"`);
    return value;
  };

function redact(value: string): string {
  return value.replace(/\/\/[^@/]*@/, '//***@');
}

const MINUTE = 60_000;

// One table: the public interface of the configuration, its defaults and its docs (README is generated from it).
export const fields = [
  { key: 'host', env: 'BERTH_HOST', parse: str('127.0.0.1'), doc: 'Address the HTTP API listens on.' },
  { key: 'port', env: 'BERTH_PORT', parse: int(3000, 0, 65535), doc: 'HTTP port (0 picks a free one).' },
  {
    key: 'dataDir',
    env: 'BERTH_DATA_DIR',
    parse: (raw) => path.resolve(raw || './data'),
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
    key: 'agent',
    env: 'BERTH_AGENT',
    parse: oneOf('anthropic', ['anthropic', 'echo'] as const),
    doc: 'Agent mode passed to the runner (`echo` answers without a model).',
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
  {
    key: 'egressResolve',
    env: 'BERTH_EGRESS_RESOLVE',
    parse: (raw) => {
      const out: Record<string, string> = {};
      for (const entry of (raw ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const m = /^([^=\s]+)=([0-9a-fA-F:.]+)$/.exec(entry);
        if (!m || isIP(m[2]!) === 0)
          throw new ConfigError(`BERTH_EGRESS_RESOLVE entry "${entry}" must be name=IP-address`);
        out[m[1]!.toLowerCase()] = m[2]!;
      }
      return out;
    },
    doc: 'Pins egress host names to addresses (`name=IP`, comma-separated), like curl --resolve; pinned addresses may be internal.',
  },
  {
    key: 'credentialsFile',
    env: 'BERTH_CREDENTIALS_FILE',
    parse: optional,
    doc: 'JSON file with `apiKey` or `oauthToken`, re-read when it changes.',
  },
  {
    key: 'anthropicApiKey',
    env: 'ANTHROPIC_API_KEY',
    parse: optional,
    doc: 'Real API key (never given to containers).',
  },
  {
    key: 'claudeCodeOauthToken',
    env: 'CLAUDE_CODE_OAUTH_TOKEN',
    parse: optional,
    doc: 'Real OAuth token (never given to containers).',
  },
  {
    key: 'mountAllowlist',
    env: 'BERTH_MOUNT_ALLOWLIST',
    parse: (raw, env) =>
      path.resolve(raw || path.join(env.HOME || homedir(), '.config/berth/mount-allowlist.json')),
    doc: 'Allowlist for extra mounts; missing file means no extra mounts.',
  },
  {
    key: 'projectRoot',
    env: 'BERTH_PROJECT_ROOT',
    parse: (raw) => path.resolve(raw || process.cwd()),
    doc: 'Mounted read-only at /workspace/project for admin groups.',
  },
  {
    key: 'installId',
    env: 'BERTH_INSTALL_ID',
    parse: (raw, _env) => {
      if (raw === undefined || raw === '') return undefined;
      if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(raw))
        throw new ConfigError(`BERTH_INSTALL_ID must match ^[a-z0-9][a-z0-9-]{0,62}$, got "${raw}"`);
      return raw;
    },
    doc: 'Label value that marks this installation’s containers; unset derives one from DATABASE_URL (or the data dir), so instances sharing a database share it.',
  },
  {
    key: 'leaseMs',
    env: 'BERTH_LEASE_MS',
    parse: int(30_000, 1000, 60 * MINUTE),
    doc: 'Session ownership lease; another instance takes over after it lapses.',
  },
  {
    key: 'reconcileIntervalMs',
    env: 'BERTH_RECONCILE_INTERVAL_MS',
    parse: int(30_000, 200, 60 * MINUTE),
    doc: 'How often containers and sessions are reconciled.',
  },
  {
    key: 'eventRetentionCount',
    env: 'BERTH_EVENT_RETENTION_COUNT',
    parse: int(10_000, 10, 10_000_000),
    doc: 'Events kept per session.',
  },
  {
    key: 'eventRetentionMs',
    env: 'BERTH_EVENT_RETENTION_MS',
    parse: int(7 * 24 * 60 * MINUTE, 1000, 365 * 24 * 60 * MINUTE),
    doc: 'Maximum event age.',
  },
  {
    key: 'containerMemoryMb',
    env: 'BERTH_CONTAINER_MEMORY_MB',
    parse: int(1024, 16, 1024 * 1024),
    doc: 'Memory limit per container, and the ceiling for group settings.',
  },
  {
    key: 'containerCpus',
    env: 'BERTH_CONTAINER_CPUS',
    parse: num(1, 0.05, 1024),
    doc: 'CPU limit per container, and the ceiling for group settings.',
  },
  {
    key: 'containerPids',
    env: 'BERTH_CONTAINER_PIDS',
    parse: int(256, 8, 1_000_000),
    doc: 'Process limit per container, and the ceiling for group settings.',
  },
  {
    key: 'buildTimeoutMs',
    env: 'BERTH_BUILD_TIMEOUT_MS',
    parse: int(15 * MINUTE, 1000, 24 * 60 * MINUTE),
    doc: 'Time limit for a group image build.',
  },
  {
    key: 'logLevel',
    env: 'BERTH_LOG_LEVEL',
    parse: oneOf('info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    doc: 'Log level.',
  },
  { key: 'timezone', env: 'TZ', parse: str('UTC'), doc: 'Time zone passed to agents.' },
  {
    key: 'searchPath',
    env: 'PATH',
    parse: str('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'),
    doc: 'Where the container runtime CLI is looked up.',
  },
] as const satisfies readonly Field<keyof Config>[];

const known = new Set<string>(fields.map((f) => f.env));

/** Parses the environment once; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  for (const name of Object.keys(env)) {
    if (name.startsWith('BERTH_') && !known.has(name)) {
      problems.push(
        `${name} is not a berth setting (known: ${[...known].filter((k) => k.startsWith('BERTH_')).join(', ')})`,
      );
    }
  }
  const out: Partial<Record<keyof Config, unknown>> = {};
  for (const field of fields) {
    try {
      out[field.key] = (field.parse as (raw: string | undefined, env: Env, name: string) => unknown)(
        env[field.env],
        env,
        field.env,
      );
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    }
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
  return out as Config;
}

/** The API token: configured, or generated once and kept in the data dir with mode 0600. */
export function resolveApiToken(config: Config): { token: string; generated: boolean } {
  if (config.apiToken) return { token: config.apiToken, generated: false };
  const file = path.join(config.dataDir, 'api-token');
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    // An empty token would match any malformed Authorization header.
    if (!token)
      throw new ConfigError(`${file} is empty: delete it to generate a new token, or set BERTH_API_TOKEN`);
    return { token, generated: false };
  }
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const token = `berth_${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return { token, generated: true };
}
