import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  type FileHandle,
  lchown,
  lstat,
  mkdir,
  open,
  readdir,
  rename,
  rmdir,
  unlink,
} from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AppError } from '../errors.ts';
import { checkName, checkNoClash, type NameRules } from './names.ts';
import { at, openBeneath, openRoot, unsafe } from './safe-open.ts';
import { copyCapped } from './stream-cap.ts';

export interface Owner {
  uid: number;
  gid: number;
}

export interface Entry {
  name: string;
  type: 'file' | 'directory';
  size: number;
  modifiedAt: string;
}

/**
 * Lists a directory below the root. Only plain files (one link) and directories with acceptable names
 * are shown: symbolic links, hard links, devices and FIFOs are left out, so nothing listed points away.
 */
export async function listDir(root: string, parts: string[], rules: NameRules): Promise<Entry[]> {
  const rootHandle = await openRoot(root);
  try {
    const { handle } = await openBeneath(rootHandle, parts, 'dir');
    try {
      const out: Entry[] = [];
      for (const name of (await readdir(at(handle))).sort()) {
        if (!acceptable(name, rules)) continue;
        const st = await lstat(at(handle, name)).catch(() => undefined); // removed meanwhile: not listed
        if (!st) continue;
        const type = st.isDirectory() ? 'directory' : st.isFile() && st.nlink === 1 ? 'file' : undefined;
        if (type)
          out.push({ name, type, size: type === 'file' ? st.size : 0, modifiedAt: st.mtime.toISOString() });
      }
      return out;
    } finally {
      await handle.close();
    }
  } finally {
    await rootHandle.close();
  }
}

function acceptable(name: string, rules: NameRules): boolean {
  try {
    checkName(name, rules);
    return true;
  } catch {
    return false; // a name a client could not ask for is not shown either
  }
}

/** Opens (creating as needed, owned by `owner`) the directory `parts` below an open root. */
async function ensureDirBeneath(root: FileHandle, parts: string[], owner?: Owner): Promise<FileHandle> {
  for (let i = 1; i <= parts.length; i++) {
    const upTo = parts.slice(0, i);
    try {
      const { handle } = await openBeneath(root, upTo, 'dir');
      await handle.close();
    } catch (err) {
      if ((err as AppError).code !== 'WORKSPACE_PATH_NOT_FOUND') throw err;
      const { handle: parent } = await openBeneath(root, upTo.slice(0, -1), 'dir');
      try {
        const siblings = await readdir(at(parent));
        checkNoClash(upTo.at(-1)!, siblings);
        await mkdir(at(parent, upTo.at(-1)), { mode: 0o700 }).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'EEXIST') throw e; // created by someone else meanwhile: re-checked below
        });
        if (owner) await lchown(at(parent, upTo.at(-1)), owner.uid, owner.gid);
      } finally {
        await parent.close();
      }
    }
  }
  return (await openBeneath(root, parts, 'dir')).handle;
}

export interface Written {
  size: number;
  sha256: string;
  /** True when a file of that name was there before. */
  replaced: boolean;
}

/**
 * Writes `source` to root + parts: into a temporary file created with O_EXCL|O_NOFOLLOW in the opened
 * parent, cut off past `maxBytes` (the partial file removed), then renamed over the name. An existing
 * directory, symbolic link or hard link at the name is refused, as is a name clashing with a sibling.
 */
export async function writeBeneath(
  root: string,
  parts: string[],
  source: Readable,
  opts: { maxBytes: number; owner?: Owner; rules: NameRules },
): Promise<Written> {
  if (parts.length === 0) throw new AppError('FILE_IS_DIRECTORY', 'the workspace is a directory, not a file');
  const name = checkName(parts.at(-1), opts.rules);
  const rootHandle = await openRoot(root);
  let dir: FileHandle | undefined;
  try {
    dir = await ensureDirBeneath(rootHandle, parts.slice(0, -1), opts.owner);
    const replaced = await refuseExisting(dir, name, parts.join('/'));
    checkNoClash(name, await readdir(at(dir)));
    const temp = `.berth-upload-${randomBytes(8).toString('hex')}`;
    const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
    const out = await open(at(dir, temp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    let written: { size: number; sha256: string };
    try {
      written = await copyCapped(source, out, opts.maxBytes);
      if (opts.owner) await out.chown(opts.owner.uid, opts.owner.gid);
    } catch (err) {
      await out.close();
      await unlink(at(dir, temp));
      throw err;
    }
    await out.close();
    await refuseExisting(dir, name, parts.join('/'));
    await rename(at(dir, temp), at(dir, name));
    return { ...written, replaced };
  } finally {
    await dir?.close();
    await rootHandle.close();
  }
}

/** Refuses anything but a plain file at the name; true when such a file is there. */
async function refuseExisting(dir: FileHandle, name: string, shown: string): Promise<boolean> {
  const st = await lstat(at(dir, name)).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  if (!st) return false;
  if (st.isDirectory()) throw new AppError('FILE_IS_DIRECTORY', `${shown} is a directory, not a file`);
  if (st.isSymbolicLink()) throw unsafe(shown, 'symlink');
  if (!st.isFile()) throw unsafe(shown, 'not a regular file');
  if (st.nlink !== 1) throw unsafe(shown, 'hard link');
  return true;
}

/**
 * Removes the named files from the directory root + dir, then the directory if it is empty. The directory
 * is opened (no-follow, checked) and each name unlinked relative to it, so nothing outside is touched even
 * if an agent swaps the directory for a symbolic link meanwhile. A missing path is fine.
 */
export async function removeFilesBeneath(root: string, dir: string[], names: string[]): Promise<void> {
  const rootHandle = await openRoot(root);
  try {
    const { handle: parent } = await openBeneath(rootHandle, dir.slice(0, -1), 'dir');
    try {
      const { handle } = await openBeneath(rootHandle, dir, 'dir');
      try {
        for (const name of names) await unlink(at(handle, name)).catch(ignoreMissing);
      } finally {
        await handle.close();
      }
      await rmdir(at(parent, dir.at(-1))).catch(ignoreMissing);
    } finally {
      await parent.close();
    }
  } catch (err) {
    if ((err as AppError).code !== 'WORKSPACE_PATH_NOT_FOUND') throw err;
  } finally {
    await rootHandle.close();
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  // Already gone, or the agent put something else there: either way nothing of ours is left to remove.
  if (err.code !== 'ENOENT' && err.code !== 'ENOTEMPTY' && err.code !== 'ENOTDIR') throw err;
}
