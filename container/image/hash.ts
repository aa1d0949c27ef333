import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import process from 'node:process';

/** A host file that lands in the image at `path`. */
export interface Entry {
  path: string;
  source: string;
  mode: number;
}

interface Cached {
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
}

async function fileHash(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * A digest of everything that lands in the image. File contents are hashed once and remembered by
 * (size, mtime, inode) in `cacheFile`, so an unchanged rebuild does not re-read the node binary.
 */
export async function entriesHash(entries: readonly Entry[], cacheFile: string, extra = ''): Promise<string> {
  let cache: Record<string, Cached> = {};
  try {
    cache = JSON.parse(await readFile(cacheFile, 'utf8'));
  } catch {
    // No usable cache: every entry is hashed afresh.
  }
  const next: Record<string, Cached> = {};
  const total = createHash('sha256').update(extra);
  for (const entry of entries) {
    const st = await stat(entry.source);
    const hit = cache[entry.source];
    const sha256 =
      hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs && hit.ino === st.ino
        ? hit.sha256
        : await fileHash(entry.source);
    next[entry.source] = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, sha256 };
    total.update(`${JSON.stringify({ path: entry.path, mode: entry.mode })}\0${sha256}\n`);
  }
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(next));
  await rename(tmp, cacheFile);
  return total.digest('hex');
}
