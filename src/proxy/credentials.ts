import { readFileSync, statSync } from 'node:fs';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';

export type CredentialMode = 'api-key' | 'oauth';

export interface Credential {
  mode: CredentialMode;
  value: string;
}

export interface CredentialSourceOptions {
  /** JSON file re-read whenever it changes; takes precedence over the values below. */
  file?: string;
  apiKey?: string;
  oauthToken?: string;
  /** Only file paths and reasons are logged, never values. */
  log?: Logger;
}

export interface CredentialSource {
  mode(): CredentialMode | 'none';
  current(): Credential | undefined;
  close(): void;
}

export class CredentialError extends AppError {
  override name = 'CredentialError';
  constructor(message: string) {
    super('CREDENTIALS_INVALID', message);
  }
}

// Header-safe token characters: visible ASCII, no spaces, so a value can never split a header.
const TOKEN = /^[\x21-\x7e]+$/;

function clean(value: string | undefined, what: string): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (trimmed === '') return undefined;
  if (!TOKEN.test(trimmed)) throw new CredentialError(`${what} contains spaces or control characters`);
  return trimmed;
}

export function createCredentialSource(options: CredentialSourceOptions): CredentialSource {
  if (options.file) return fileSource(options.file, options.log);
  const apiKey = clean(options.apiKey, 'the API key');
  const oauthToken = clean(options.oauthToken, 'the OAuth token');
  // Same precedence as the Anthropic clients: an API key wins over an OAuth token.
  let fixed: Credential | undefined = apiKey
    ? { mode: 'api-key', value: apiKey }
    : oauthToken
      ? { mode: 'oauth', value: oauthToken }
      : undefined;
  return {
    mode: () => fixed?.mode ?? 'none',
    current: () => fixed,
    close: () => {
      fixed = undefined;
    },
  };
}

interface Parsed {
  credential: Credential;
  expiresAt?: number;
}

function field(data: Record<string, unknown>, name: string): string | undefined {
  const value = data[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new CredentialError(`"${name}" must be a string`);
  return clean(value, `"${name}"`);
}

/** Accepts {"apiKey"}, {"oauthToken"} or Claude's {"claudeAiOauth":{"accessToken","expiresAt"}}. */
export function parseCredentialFile(text: string): Parsed {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new CredentialError('is not valid JSON');
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new CredentialError('must hold a JSON object');
  }
  const root = data as Record<string, unknown>;
  const claude = root.claudeAiOauth;
  const nested =
    typeof claude === 'object' && claude !== null ? (claude as Record<string, unknown>) : undefined;
  const apiKey = field(root, 'apiKey');
  const oauthToken = field(root, 'oauthToken') ?? (nested ? field(nested, 'accessToken') : undefined);
  if (apiKey && oauthToken) throw new CredentialError('holds both an API key and an OAuth token; keep one');
  if (apiKey) return { credential: { mode: 'api-key', value: apiKey } };
  if (oauthToken) {
    const expiresAt = typeof nested?.expiresAt === 'number' ? nested.expiresAt : undefined;
    return { credential: { mode: 'oauth', value: oauthToken }, ...(expiresAt ? { expiresAt } : {}) };
  }
  throw new CredentialError('holds no "apiKey", "oauthToken" or "claudeAiOauth.accessToken"');
}

function fileSource(file: string, log?: Logger): CredentialSource {
  let seen = '';
  let loaded: Parsed | undefined;
  let warned = '';
  let expiryWarned = false;
  let closed = false;

  const warn = (key: string, reason: string) => {
    if (warned === key) return;
    warned = key;
    log?.warn({ file }, `credentials file ${file} ${reason}`);
  };

  // A stat per use is cheap and catches rotations (rename or in-place write) without a watcher.
  const refresh = () => {
    let key: string;
    try {
      const st = statSync(file);
      key = `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch (err) {
      if (seen !== 'missing') loaded = undefined;
      seen = 'missing';
      warn(
        'missing',
        `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); no credential available`,
      );
      return;
    }
    if (key === seen) return;
    try {
      const next = parseCredentialFile(readFileSync(file, 'utf8'));
      seen = key;
      loaded = next;
      warned = '';
      expiryWarned = false;
    } catch (err) {
      // Not remembering the key retries on the next use: the writer may be half-way through.
      const reason =
        err instanceof CredentialError
          ? err.message
          : `cannot be read (${(err as NodeJS.ErrnoException).code})`;
      warn(key, `${reason}; ${loaded ? 'keeping the previous credential' : 'no credential available'}`);
    }
  };

  const current = (): Credential | undefined => {
    if (closed) return undefined;
    refresh();
    if (loaded?.expiresAt !== undefined && loaded.expiresAt < Date.now() && !expiryWarned) {
      expiryWarned = true;
      log?.warn(
        { file },
        `OAuth token in ${file} expired at ${new Date(loaded.expiresAt).toISOString()}; refresh the file, it is re-read on change`,
      );
    }
    return loaded?.credential;
  };

  return {
    mode: () => current()?.mode ?? 'none',
    current,
    close: () => {
      closed = true;
      loaded = undefined;
    },
  };
}
