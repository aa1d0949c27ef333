import { constants, type Stats } from 'node:fs';
import { type FileHandle, open, readlink } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.ts';

const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = constants;
/** Never follows a symbolic link; never blocks on a FIFO an agent left in place of a file. */
const NO_FOLLOW = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;

/** A path inside a root a caller may not use, with the reason a client is told. */
export type UnsafeReason = 'symlink' | 'hard link' | 'not a regular file' | 'moved while opening';

export interface Opened {
  handle: FileHandle;
  stat: Stats;
  /** The kernel's path of what was opened (from /proc/self/fd), equal to root + parts. */
  path: string;
}

/** `/proc/self/fd/<fd>/<name>` resolves `name` inside the open directory, like openat(2). */
export function at(dir: FileHandle, name?: string): string {
  return name === undefined ? `/proc/self/fd/${dir.fd}` : `/proc/self/fd/${dir.fd}/${name}`;
}

export function unsafe(where: string, reason: UnsafeReason): AppError {
  return new AppError('FILE_PATH_UNSAFE', `${where} is refused: ${reason}`, { reason });
}

function openError(err: unknown, where: string): AppError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new AppError('WORKSPACE_PATH_NOT_FOUND', `${where} does not exist`);
  if (code === 'ELOOP') return unsafe(where, 'symlink');
  if (code === 'ENOTDIR')
    return new AppError('FILE_NOT_DIRECTORY', `a component of ${where} is not a directory`);
  if (code === 'ENXIO' || code === 'ENODEV') return unsafe(where, 'not a regular file');
  return err as AppError;
}

/** Opens the root directory itself: not through a symbolic link. */
export async function openRoot(root: string): Promise<FileHandle> {
  try {
    return await open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (err) {
    throw openError(err, 'the workspace');
  }
}

/**
 * Opens `parts` below an open root one component at a time, each with O_NOFOLLOW relative to the
 * directory opened before it (openat semantics through /proc/self/fd), then checks the opened
 * descriptor rather than the path: its type, its link count, and that the kernel's path for it is
 * exactly root + parts. A component swapped for a symbolic link at any moment fails with ELOOP.
 */
export async function openBeneath(
  root: FileHandle,
  parts: string[],
  expect: 'file' | 'dir',
): Promise<Opened> {
  const rootPath = await readlink(at(root));
  const shown = parts.length === 0 ? 'the workspace' : parts.join('/');
  let dir = root;
  try {
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      let next: FileHandle;
      try {
        next = await open(at(dir, parts[i]!), NO_FOLLOW);
      } catch (err) {
        throw openError(err, shown);
      }
      if (dir !== root) await dir.close();
      dir = next;
      const st = await next.stat();
      if (!last && !st.isDirectory())
        throw new AppError('FILE_NOT_DIRECTORY', `${parts.slice(0, i + 1).join('/')} is not a directory`);
    }
    const handle = dir === root ? await open(at(root), O_RDONLY | O_DIRECTORY) : dir;
    dir = handle;
    const stat = await handle.stat();
    checkKind(stat, expect, shown);
    const real = await readlink(at(handle));
    if (real !== path.join(rootPath, ...parts)) throw unsafe(shown, 'moved while opening');
    return { handle, stat, path: real };
  } catch (err) {
    if (dir !== root) await dir.close();
    throw err;
  }
}

function checkKind(stat: Stats, expect: 'file' | 'dir', shown: string): void {
  if (stat.isDirectory()) {
    if (expect === 'file') throw new AppError('FILE_IS_DIRECTORY', `${shown} is a directory, not a file`);
    return;
  }
  if (expect === 'dir') throw new AppError('FILE_NOT_DIRECTORY', `${shown} is not a directory`);
  if (!stat.isFile()) throw unsafe(shown, 'not a regular file');
  // A hard link may be the only name an agent has for a file outside its workspace.
  if (stat.nlink !== 1) throw unsafe(shown, 'hard link');
}

/** Opens root + parts as a regular file, or throws the problem to answer. */
export async function openFileBeneath(root: string, parts: string[]): Promise<Opened> {
  const rootHandle = await openRoot(root);
  try {
    return await openBeneath(rootHandle, parts, 'file');
  } finally {
    await rootHandle.close();
  }
}
