import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { CLIENT_ENV_NAMES, cliEnv } from './config/cli-env.ts';
import { containerFields } from './config/fields-containers.ts';
import { fileFields } from './config/fields-files.ts';
import { serviceFields } from './config/fields-service.ts';
import { ConfigError, type Env } from './config/parse.ts';
import type { ModelPrice } from './config/prices.ts';
import type { RuntimeName } from './runtime/types.ts';

export { CLI_ENV_NAMES } from './config/cli-env.ts';
export { ConfigError, isTimeZone } from './config/parse.ts';
export type { ModelPrice } from './config/prices.ts';
export type { RuntimeName };

export interface Config {
  host: string;
  port: number;
  httpRequestTimeoutMs: number;
  httpHeadersTimeoutMs: number;
  httpIdleTimeoutMs: number;
  httpKeepAliveTimeoutMs: number;
  httpMaxConnections: number;
  dataDir: string;
  /** Unset: embedded PGlite under `<dataDir>/pglite`. */
  databaseUrl: string | undefined;
  runtime: 'auto' | RuntimeName;
  image: string;
  apiToken: string | undefined;
  keyPepperFile: string;
  agent: 'claude' | 'echo';
  agentTestHooks: boolean;
  /** Retries of a failed model call inside the agent; undefined keeps Claude Code's default. */
  agentMaxRetries: number | undefined;
  buildImage: boolean;
  idleTimeoutMs: number;
  hardTimeoutMs: number;
  stopGraceMs: number;
  maxContainers: number;
  maxAttempts: number;
  metricsAddress: { host: string; port: number } | undefined;
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
  dbTimeoutMs: number;
  eventRetentionCount: number;
  eventRetentionMs: number;
  containerMemoryMb: number;
  containerCpus: number;
  containerPids: number;
  buildTimeoutMs: number;
  containerUid: number;
  workspaceQuotaMb: number;
  diskReserveMb: number;
  quotaCheckMs: number;
  maxViewersPerSession: number;
  maxViewersPerKey: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  logFormat: 'auto' | 'json' | 'pretty';
  timezone: string;
  scheduleTimezone: string;
  schedulePollMs: number;
  scheduleCatchUpMs: number;
  scheduleMaxFailures: number;
  scheduleMaxPerSession: number;
  searchPath: string;
  /** The whole environment given to runtime CLIs and npm: PATH plus the operator's runtime settings, nothing else. */
  cliEnv: Record<string, string>;
  attachmentMaxBytes: number;
  messageAttachmentsMaxBytes: number;
  uploadMaxBytes: number;
  filesQuotaMb: number;
  fileRetentionMs: number;
  outboxMaxFiles: number;
  filesAllowDotfiles: boolean;
}

// One table: the public interface of the configuration, its defaults and its docs (README is generated from it).
export const fields = [...serviceFields, ...containerFields, ...fileFields];

const known = new Set<string>(fields.map((f) => f.env));
const clientNames = new Set<string>(CLIENT_ENV_NAMES);

/** Parses the environment once; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  for (const name of Object.keys(env)) {
    if (name.startsWith('BERTH_') && !known.has(name) && !clientNames.has(name)) {
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
  out.cliEnv = cliEnv(env, out.searchPath as string);
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
