import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import process from 'node:process';
import type { Entry } from './tar.ts';

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
    let content = '';
    if (entry.type === 'file') {
      const st = await stat(entry.source);
      const hit = cache[entry.source];
      const sha256 =
        hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs && hit.ino === st.ino
          ? hit.sha256
          : await fileHash(entry.source);
      next[entry.source] = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, sha256 };
      content = sha256;
    }
    const { source: _source, ...meta } = entry as Entry & { source?: string };
    total.update(`${JSON.stringify(meta)}\0${content}\n`);
  }
  const tmp = `${cacheFile}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(next));
  await rename(tmp, cacheFile);
  return total.digest('hex');
}
