import { Buffer } from 'node:buffer';
import { AppError } from '../errors.ts';

/** Longest file name accepted, in UTF-8 bytes (Linux's NAME_MAX). */
export const MAX_NAME_BYTES = 255;
/** Longest relative path accepted, in UTF-8 bytes, and its deepest nesting. */
export const MAX_PATH_BYTES = 1024;
export const MAX_PATH_DEPTH = 32;

// C0 and C1 controls, DEL, and the bidi/format characters that make names display as something else.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/u;

export interface NameRules {
  /** Names starting with a dot are refused unless this is true. */
  allowDotfiles: boolean;
}

function invalid(code: 'FILE_NAME_INVALID' | 'FILE_PATH_INVALID', what: string, reason: string): never {
  throw new AppError(code, `${what} ${reason}`, { reason });
}

/** One path component a user may name: no separators, controls, `.`/`..`, or (by default) leading dot. */
export function checkName(name: unknown, rules: NameRules, what = 'file name'): string {
  if (typeof name !== 'string' || name === '') invalid('FILE_NAME_INVALID', what, 'is empty');
  if (name.includes('\u0000')) invalid('FILE_NAME_INVALID', what, 'contains a NUL byte');
  if (UNSAFE_CHARS.test(name)) invalid('FILE_NAME_INVALID', what, 'contains a control or format character');
  if (name.includes('/') || name.includes('\\'))
    invalid('FILE_NAME_INVALID', what, 'must be one path component (no / or \\)');
  if (name === '.' || name === '..') invalid('FILE_NAME_INVALID', what, 'must not be . or ..');
  if (name.startsWith('.') && !rules.allowDotfiles)
    invalid('FILE_NAME_INVALID', what, 'must not start with a dot');
  if (Buffer.byteLength(name, 'utf8') > MAX_NAME_BYTES)
    invalid('FILE_NAME_INVALID', what, `is longer than ${MAX_NAME_BYTES} bytes`);
  if (name.trim() !== name) invalid('FILE_NAME_INVALID', what, 'must not start or end with white space');
  return name;
}

/**
 * A path relative to the workspace, split into checked components. `''` (or absent) is the workspace
 * itself. Absolute paths, `..`, empty components and overlong paths are refused before the disk is touched.
 */
export function checkPath(raw: string | undefined, rules: NameRules): string[] {
  if (raw === undefined || raw === '') return [];
  if (raw.includes('\u0000')) invalid('FILE_PATH_INVALID', 'path', 'contains a NUL byte');
  if (raw.startsWith('/') || raw.startsWith('\\') || /^[A-Za-z]:/.test(raw))
    invalid('FILE_PATH_INVALID', 'path', 'must be relative to the workspace');
  if (Buffer.byteLength(raw, 'utf8') > MAX_PATH_BYTES)
    invalid('FILE_PATH_INVALID', 'path', `is longer than ${MAX_PATH_BYTES} bytes`);
  const parts = raw.split('/');
  if (parts.length > MAX_PATH_DEPTH) invalid('FILE_PATH_INVALID', 'path', `is deeper than ${MAX_PATH_DEPTH}`);
  for (const part of parts) {
    if (part === '..') invalid('FILE_PATH_INVALID', 'path', 'must not contain ..');
    if (part === '' || part === '.') invalid('FILE_PATH_INVALID', 'path', 'has an empty or . component');
    try {
      checkName(part, rules, 'path component');
    } catch (err) {
      const reason = (err as AppError).extra.reason as string;
      invalid('FILE_PATH_INVALID', `path component ${JSON.stringify(part)}`, reason);
    }
  }
  return parts;
}

/** The key two names clash on: the same after Unicode normalisation (NFKC) and case folding. */
export function clashKey(name: string): string {
  return name.normalize('NFKC').toLowerCase().normalize('NFKC');
}

/** Refuses `name` when another entry of `siblings` differs from it only by normalisation or case. */
export function checkNoClash(name: string, siblings: Iterable<string>): void {
  const key = clashKey(name);
  for (const other of siblings)
    if (other !== name && clashKey(other) === key)
      throw new AppError(
        'FILE_NAME_CLASH',
        `${JSON.stringify(name)} differs from the existing ${JSON.stringify(other)} only by case or Unicode normalisation`,
      );
}
