import type { ParseArgsConfig } from 'node:util';
import type { Api } from './client.ts';
import type { CliConfig } from './config.ts';
import { UsageError } from './errors.ts';

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What every command gets: the server, its client, and whether to print JSON. */
export interface Context {
  config: CliConfig;
  api: Api;
  json: boolean;
  values: Values;
  args: string[];
}

export interface Command {
  /** `groups create`, `send`, … */
  name: string;
  /** Arguments after the name, e.g. `<session> <text> [--wait]`. */
  usage: string;
  summary: string;
  /** Lines after the usage in `--help`. */
  details?: string[];
  options?: Options;
  /** How many positional arguments: [min, max]. */
  arity: [number, number];
  run(ctx: Context): Promise<number>;
}

export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** A whole number option (≥ 0), or a usage error naming it. */
export function int(values: Values, name: string): number | undefined {
  const v = str(values, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw new UsageError(`--${name} must be a whole number, got "${v}"`);
  return Number(v);
}

/** A path segment id as the API spells them (`ses_…`), checked before it goes into a URL. */
export function id(value: string, what: string): string {
  if (!/^[a-z]{2,4}_[0-9a-z]{21}$/.test(value)) throw new UsageError(`not a ${what} id: "${value}"`);
  return value;
}
