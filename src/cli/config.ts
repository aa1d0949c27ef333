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
type CliEnv = Partial<
  Record<(typeof CLIENT_ENV_NAMES)[number] | 'BERTH_IMAGE' | 'BERTH_DATA_DIR' | 'PATH', string>
> &
  Record<string, string | undefined>;

export function loadCliConfig(flags: { url?: string; token?: string }, env: CliEnv = process.env): CliConfig {
  const url = (flags.url ?? env.BERTH_URL ?? DEFAULT_URL).replace(/\/+$/, '');
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:'))
    throw new UsageError(`the server URL must be http(s)://host:port, got "${url}"`);
  const image = env.BERTH_IMAGE || DEFAULT_IMAGE;
  const searchPath = env.PATH ?? '';
  if (flags.token) return { url, token: flags.token, tokenSource: 'flag', image, searchPath };
  if (env.BERTH_TOKEN) return { url, token: env.BERTH_TOKEN, tokenSource: 'BERTH_TOKEN', image, searchPath };
  const fromFile = isLoopback(url) ? localToken(env.BERTH_DATA_DIR || 'data') : undefined;
  return fromFile
    ? { url, token: fromFile, tokenSource: 'data/api-token', image, searchPath }
    : { url, token: undefined, tokenSource: 'none', image, searchPath };
}
