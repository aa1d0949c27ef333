import { readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import type { CLIENT_ENV_NAMES } from '../config/cli-env.ts';
import { UsageError } from './errors.ts';

/** Where the CLI finds its server and credentials. The CLI's only reader of process.env. */
export interface CliConfig {
  url: string;
  token: string | undefined;
  /** Where the token came from, for doctor's hints. */
  tokenSource: 'flag' | 'BERTH_TOKEN' | 'data/api-token' | 'none';
  /** The agent image doctor looks for when the server cannot say (BERTH_IMAGE, as the service reads it). */
  image: string;
  /** PATH, to find container runtimes for doctor's local checks. */
  searchPath: string;
  /**
   * Which model credential this shell would hand a berth started from it (the variable's name, never its
   * value), or `echo` when BERTH_AGENT=echo needs none; for doctor when the server cannot say.
   */
  localCredential: string | undefined;
}

export const DEFAULT_URL = 'http://127.0.0.1:3000';
export const DEFAULT_IMAGE = 'berth-agent:latest';

/** Whether a URL points at this machine (so local checks and the local token file apply). */
export function isLoopback(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The token `npm start` generated, read only for a server on this machine so it never leaves it. */
function localToken(dataDir: string): string | undefined {
  try {
    return readFileSync(path.join(dataDir, 'api-token'), 'utf8').trim() || undefined;
  } catch {
    return undefined; // no local server data here: the caller reports a missing token
  }
}

/** The client's own variables (known to the service, which ignores them) and the service settings it shares. */
const CREDENTIAL_NAMES = ['BERTH_CREDENTIALS_FILE', 'ANTHROPIC_API_KEY', 'CLAUDE_CODE_OAUTH_TOKEN'] as const;

type Shared = 'BERTH_IMAGE' | 'BERTH_DATA_DIR' | 'BERTH_AGENT' | 'PATH' | (typeof CREDENTIAL_NAMES)[number];
type CliEnv = Partial<Record<(typeof CLIENT_ENV_NAMES)[number] | Shared, string>> &
  Record<string, string | undefined>;

function localCredential(env: CliEnv): string | undefined {
  if (env.BERTH_AGENT === 'echo') return 'echo';
  return CREDENTIAL_NAMES.find((name) => env[name]);
}

export function loadCliConfig(flags: { url?: string; token?: string }, env: CliEnv = process.env): CliConfig {
  const url = (flags.url ?? env.BERTH_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:'))
    throw new UsageError(`the server URL must be http(s)://host:port, got "${url}"`);
  const image = env.BERTH_IMAGE || DEFAULT_IMAGE;
  const base = { url, image, searchPath: env.PATH ?? '', localCredential: localCredential(env) };
  if (flags.token) return { ...base, token: flags.token, tokenSource: 'flag' };
  if (env.BERTH_TOKEN) return { ...base, token: env.BERTH_TOKEN, tokenSource: 'BERTH_TOKEN' };
  const fromFile = isLoopback(url) ? localToken(env.BERTH_DATA_DIR || 'data') : undefined;
  return fromFile
    ? { ...base, token: fromFile, tokenSource: 'data/api-token' }
    : { ...base, token: undefined, tokenSource: 'none' };
}
