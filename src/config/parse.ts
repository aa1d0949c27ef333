import { isIP, isIPv4 } from 'node:net';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';

export type Env = Record<string, string | undefined>;

export class ConfigError extends AppError {
  override name = 'ConfigError';
  constructor(message: string) {
    super('CONFIG_INVALID', message);
  }
}

export interface Field<K extends keyof Config> {
  key: K;
  env: string;
  parse: (raw: string | undefined, env: Env) => Config[K];
  doc: string;
  /** The default as the README shows it, when it depends on the machine. */
  shown?: string;
}

export const int =
  (fallback: number, min: number, max: number) =>
  (raw: string | undefined, _env: Env, name = ''): number => {
    if (raw === undefined || raw === '') return fallback;
    if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
    const n = Number(raw);
    if (n < min || n > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${n}`);
    return n;
  };

export const num =
  (fallback: number, min: number, max: number) =>
  (raw: string | undefined, _env: Env, name = ''): number => {
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min || n > max)
      throw new ConfigError(`${name} must be a number between ${min} and ${max}, got "${raw}"`);
    return n;
  };

export const oneOf =
  <T extends string>(fallback: T, allowed: readonly T[]) =>
  (raw: string | undefined, _env: Env, name = ''): T => {
    if (raw === undefined || raw === '') return fallback;
    if (!(allowed as readonly string[]).includes(raw))
      throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${raw}"`);
    return raw as T;
  };

export const str =
  (fallback: string) =>
  (raw: string | undefined): string =>
    raw === undefined || raw === '' ? fallback : raw;

export const flag =
  (fallback: boolean) =>
  (raw: string | undefined, _env: Env, name = ''): boolean => {
    if (raw === undefined || raw === '') return fallback;
    if (raw === '1' || raw === 'true') return true;
    if (raw === '0' || raw === 'false') return false;
    throw new ConfigError(`${name} must be 1, 0, true or false, got "${raw}"`);
  };

export const optional = (raw: string | undefined): string | undefined =>
  raw === undefined || raw === '' ? undefined : raw;

/** Whether a host name or address (no port, no brackets) names this machine's loopback interface. */
export function isLoopbackName(host: string): boolean {
  const name = host.toLowerCase();
  return name === 'localhost' || name === '::1' || (isIPv4(name) && name.startsWith('127.'));
}

/**
 * `host:port` (`[::1]:port` for IPv6) on a loopback address, or undefined when unset. `localhost`
 * becomes 127.0.0.1: the resolver (or /etc/hosts) must not decide where a keyless listener binds.
 */
export const loopbackAddress = (
  raw: string | undefined,
  _env: Env,
  name = '',
): { host: string; port: number } | undefined => {
  if (raw === undefined || raw === '') return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw.trim());
  if (!m || Number(m[3]) > 65535)
    throw new ConfigError(`${name} must be host:port, e.g. 127.0.0.1:9464, got "${raw}"`);
  const host = (m[1] ?? m[2]!).toLowerCase();
  // What is served there needs no key, so only this machine may reach it.
  if (!isLoopbackName(host))
    throw new ConfigError(
      `${name} must be on a loopback address (127.0.0.0/8, ::1, localhost), got "${host}"`,
    );
  return { host: host === 'localhost' ? '127.0.0.1' : host, port: Number(m[3]) };
};

export const url =
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

/** Whether the runtime's time zone database knows the name (IANA names, e.g. `Europe/Berlin`). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export const timeZone = (raw: string | undefined, env: Env, name = ''): string => {
  if (raw !== undefined && raw !== '') {
    if (!isTimeZone(raw)) throw new ConfigError(`${name} must be an IANA time zone, got "${raw}"`);
    return raw;
  }
  // TZ may hold a POSIX rule or a path (":/etc/localtime"), which schedules cannot use.
  return env.TZ && isTimeZone(env.TZ) ? env.TZ : 'UTC';
};

export function redact(value: string): string {
  return value.replace(/\/\/[^@/]*@/, '//***@');
}

export const MINUTE = 60_000;

/** A host without the brackets of an IPv6 literal. */
export function bare(host: string): string {
  return host.trim().replace(/^\[(.*)\]$/, '$1');
}

/** True for addresses that listen on every interface: '', 0.0.0.0, ::, ::ffff:0.0.0.0. */
export function isWildcardHost(host: string): boolean {
  const h = bare(host);
  if (h === '') return true;
  const family = isIP(h);
  if (family === 4) return h.split('.').every((part) => Number(part) === 0);
  if (family === 6 && !h.includes('%')) {
    const normal = new URL(`http://[${h}]/`).hostname;
    return normal === '[::]' || normal === '[::ffff:0:0]';
  }
  return false;
}

/** A listen address: anything but a wildcard, which would expose berth on every interface. */
export function listenHost(raw: string | undefined, _env: Env, name = ''): string {
  const host = raw === undefined || raw === '' ? '127.0.0.1' : raw;
  // A name is resolved at listen time, and some resolve to the wildcard ("0" is 0.0.0.0).
  if (host !== 'localhost' && isIP(bare(host)) === 0)
    throw new ConfigError(`${name} must be an IP address or localhost, got "${host}"`);
  if (isWildcardHost(host))
    throw new ConfigError(
      `${name} must name one interface (127.0.0.1, ::1, or one address of this machine), not the wildcard "${host}"`,
    );
  return host;
}
