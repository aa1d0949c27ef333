import { Buffer } from 'node:buffer';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../config.ts';
import { newId } from '../../store/ids.ts';

/**
 * Key tokens are `bk_<id>_<secret>`: the id finds the row, the 256-bit secret proves possession.
 * Only an HMAC-SHA256 of the secret under a server-side pepper is stored.
 */
const TOKEN = /^bk_([0-9a-z]{21})_([A-Za-z0-9_-]{43})$/;

export interface MintedKey {
  id: string;
  token: string;
  secretHash: string;
}

export function hashSecret(pepper: Buffer, secret: string): string {
  return createHmac('sha256', pepper).update(secret).digest('hex');
}

export function mintKey(pepper: Buffer): MintedKey {
  const id = newId('key');
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `bk_${id.slice('key_'.length)}_${secret}`, secretHash: hashSecret(pepper, secret) };
}

/** The key id and secret of a token, or undefined when it is not shaped like a key. */
export function parseToken(token: string): { id: string; secret: string } | undefined {
  const m = TOKEN.exec(token);
  return m ? { id: `key_${m[1]}`, secret: m[2]! } : undefined;
}

/** Constant-time: both digests have the same length, so the comparison never stops early. */
export function secretMatches(pepper: Buffer, secret: string, storedHash: string): boolean {
  const given = Buffer.from(hashSecret(pepper, secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return given.length === stored.length && timingSafeEqual(given, stored);
}

/** The pepper key digests are keyed with: read from its file, or generated once with mode 0600. */
export function loadPepper(file: string): Buffer {
  if (existsSync(file)) {
    const pepper = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url');
    if (pepper.length < 32)
      throw new ConfigError(
        `${file} holds less than 32 bytes: delete it to generate a new one (keys are then void)`,
      );
    return pepper;
  }
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const pepper = randomBytes(32);
  writeFileSync(file, `${pepper.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  return pepper;
}
