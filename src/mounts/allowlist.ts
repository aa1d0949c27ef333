import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { expandHome } from './paths.ts';
import { type BlockedPattern, BUILTIN_BLOCKED_PATTERNS, compilePattern } from './patterns.ts';

export interface AllowedRoot {
  /** As written in the file. */
  path: string;
  /** Resolved real path; undefined when the root does not exist (it then allows nothing). */
  realPath: string | undefined;
  allowReadWrite: boolean;
  description?: string;
}

export interface Allowlist {
  file: string;
  roots: AllowedRoot[];
  /** Built-in patterns followed by the file's own. */
  blocked: BlockedPattern[];
}

export type AllowlistResult =
  | { ok: true; allowlist: Allowlist }
  | { ok: false; code: 'MOUNT_NO_ALLOWLIST' | 'MOUNT_ALLOWLIST_INVALID'; reason: string };

const MAX_FILE_BYTES = 1 << 20;
const TOP_KEYS = ['allowedRoots', 'blockedPatterns'];
const ROOT_KEYS = ['path', 'allowReadWrite', 'description'];

class InvalidAllowlist extends Error {}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

// Unknown keys are errors: a misspelt "blockedPatterns" must not silently drop protections.
function onlyKeys(obj: Record<string, unknown>, allowed: string[], where: string): void {
  for (const key of Object.keys(obj))
    if (!allowed.includes(key))
      throw new InvalidAllowlist(`${where} has unknown key "${key}" (allowed: ${allowed.join(', ')})`);
}

async function parseRoot(raw: unknown, i: number, homeDir: string): Promise<AllowedRoot> {
  const where = `allowedRoots[${i}]`;
  if (!isObject(raw)) throw new InvalidAllowlist(`${where} must be an object`);
  onlyKeys(raw, ROOT_KEYS, where);
  const { path: p, allowReadWrite = false, description } = raw;
  if (typeof p !== 'string' || p === '')
    throw new InvalidAllowlist(`${where}.path must be a non-empty string`);
  if (typeof allowReadWrite !== 'boolean')
    throw new InvalidAllowlist(`${where}.allowReadWrite must be a boolean`);
  if (description !== undefined && typeof description !== 'string')
    throw new InvalidAllowlist(`${where}.description must be a string`);
  const expanded = expandHome(p, homeDir);
  if (expanded === undefined || !path.isAbsolute(expanded))
    throw new InvalidAllowlist(`${where}.path must be absolute or start with ~/ (got ${JSON.stringify(p)})`);
  let realPath: string | undefined;
  try {
    realPath = await realpath(expanded);
  } catch {
    // A root that does not exist (yet) allows nothing; checks refuse mounts under it.
    realPath = undefined;
  }
  return { path: p, realPath, allowReadWrite, ...(description === undefined ? {} : { description }) };
}

function parsePatterns(raw: unknown): BlockedPattern[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) throw new InvalidAllowlist('blockedPatterns must be an array of strings');
  return raw.map((p, i) => {
    if (typeof p !== 'string') throw new InvalidAllowlist(`blockedPatterns[${i}] must be a string`);
    try {
      return compilePattern(p);
    } catch (err) {
      throw new InvalidAllowlist(`blockedPatterns[${i}]: ${(err as Error).message}`);
    }
  });
}

/** Reads and validates the allowlist file; re-read on every call so edits apply without a restart. */
export async function loadAllowlist(file: string, homeDir: string): Promise<AllowlistResult> {
  let text: string;
  try {
    const buf = await readFile(file);
    if (buf.length > MAX_FILE_BYTES)
      return { ok: false, code: 'MOUNT_ALLOWLIST_INVALID', reason: `allowlist ${file} is larger than 1 MiB` };
    text = buf.toString('utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT')
      return { ok: false, code: 'MOUNT_NO_ALLOWLIST', reason: `no allowlist at ${file}` };
    return {
      ok: false,
      code: 'MOUNT_ALLOWLIST_INVALID',
      reason: `allowlist ${file} cannot be read: ${e.message}`,
    };
  }
  try {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw new InvalidAllowlist(`not valid JSON: ${(err as Error).message}`);
    }
    if (!isObject(data)) throw new InvalidAllowlist('must be a JSON object');
    onlyKeys(data, TOP_KEYS, 'the top level');
    if (!Array.isArray(data.allowedRoots)) throw new InvalidAllowlist('allowedRoots must be an array');
    const roots = await Promise.all(data.allowedRoots.map((r, i) => parseRoot(r, i, homeDir)));
    const blocked = [...BUILTIN_BLOCKED_PATTERNS.map(compilePattern), ...parsePatterns(data.blockedPatterns)];
    return { ok: true, allowlist: { file, roots, blocked } };
  } catch (err) {
    if (!(err instanceof InvalidAllowlist)) throw err;
    return {
      ok: false,
      code: 'MOUNT_ALLOWLIST_INVALID',
      reason: `allowlist ${file} is invalid: ${err.message}`,
    };
  }
}
