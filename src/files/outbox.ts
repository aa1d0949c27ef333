import { constants } from 'node:fs';
import { type FileHandle, lstat, open, readdir, readlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import send from '@fastify/send';
import type { AppError } from '../errors.ts';
import { sessionFileBytes } from '../store/files.ts';
import { checkName, type NameRules } from './names.ts';
import { at, openBeneath, openRoot } from './safe-open.ts';
import type { FileStore } from './store.ts';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = constants;

/** What a reply event carries for each file of its turn. */
export interface DeliveredFile {
  id: string;
  name: string;
  size: number;
  contentType: string;
  sha256: string;
}

export interface SkippedFile {
  name: string;
  reason: string;
}

export interface OutboxOptions {
  /** The session folder (/workspace in the container). */
  root: string;
  sessionId: string;
  messageId: string;
  maxFiles: number;
  quotaBytes: number;
  rules: NameRules;
}

export function contentTypeOf(name: string): string {
  return send.mime.getType(name) ?? 'application/octet-stream';
}

/**
 * Moves the files an agent left in `outbox/` into the file store, for the reply of its turn. Each is
 * opened with O_NOFOLLOW and checked as opened (a plain file, one link, at exactly the expected path),
 * copied, and only then removed from the outbox. Symbolic links, hard links, directories, special
 * files, bad names and files past the quota are left where they are and reported as skipped.
 */
export async function collectOutbox(
  store: FileStore,
  opts: OutboxOptions,
): Promise<{ files: DeliveredFile[]; skipped: SkippedFile[] }> {
  const files: DeliveredFile[] = [];
  const skipped: SkippedFile[] = [];
  let root: FileHandle;
  try {
    root = await openRoot(opts.root);
  } catch {
    return { files, skipped }; // no session folder yet: nothing to collect
  }
  try {
    let outbox: FileHandle;
    try {
      outbox = (await openBeneath(root, ['outbox'], 'dir')).handle;
    } catch (err) {
      const code = (err as AppError).code;
      if (code !== 'WORKSPACE_PATH_NOT_FOUND')
        skipped.push({ name: 'outbox', reason: String((err as AppError).extra?.reason ?? code) });
      return { files, skipped };
    }
    try {
      const base = await readlink(at(outbox));
      let used = await sessionFileBytes(store.db, opts.sessionId);
      const names = (await readdir(at(outbox))).sort().slice(0, opts.maxFiles);
      for (const name of names) {
        const outcome = await collectOne(store, outbox, base, name, opts, opts.quotaBytes - used);
        if ('reason' in outcome) skipped.push(outcome);
        else {
          files.push(outcome);
          used += outcome.size;
        }
      }
    } finally {
      await outbox.close();
    }
  } finally {
    await root.close();
  }
  return { files, skipped };
}

async function collectOne(
  store: FileStore,
  outbox: FileHandle,
  base: string,
  name: string,
  opts: OutboxOptions,
  room: number,
): Promise<DeliveredFile | SkippedFile> {
  try {
    checkName(name, opts.rules);
  } catch (err) {
    return { name, reason: `invalid name: ${(err as AppError).extra.reason}` };
  }
  let handle: FileHandle;
  try {
    handle = await open(at(outbox, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return { name, reason: 'symlink' };
    if (code === 'ENOENT') return { name, reason: 'removed while collecting' };
    return { name, reason: code === 'ENXIO' ? 'not a regular file' : `unreadable (${code})` };
  }
  try {
    const st = await handle.stat();
    if (st.isDirectory()) return { name, reason: 'directory' };
    if (!st.isFile()) return { name, reason: 'not a regular file' };
    if (st.nlink !== 1) return { name, reason: 'hard link' };
    if ((await readlink(at(handle))) !== path.join(base, name))
      return { name, reason: 'moved while opening' };
    if (st.size > room) return { name, reason: 'quota' };
    const row = await store.add(handle, {
      sessionId: opts.sessionId,
      messageId: opts.messageId,
      name,
      contentType: contentTypeOf(name),
    });
    // Removed only if the name still holds the file that was copied (not one swapped in meanwhile).
    const now = await lstat(at(outbox, name)).catch(() => undefined); // already gone: nothing to remove
    if (now && now.ino === st.ino && now.dev === st.dev) await unlink(at(outbox, name));
    return { id: row.id, name, size: row.size, contentType: row.contentType, sha256: row.sha256 };
  } finally {
    await handle.close();
  }
}
