import { chmod, chown, lstat, mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { AppError } from '../errors.ts';

/** Group folder slug; the folder name is also the group's directory under `<dataDir>/groups`. */
export const FOLDER_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const RESERVED_FOLDERS: readonly string[] = ['global'];
/** Group and session ids used as directory names: one plain path component, never `.`/`..`. */
export const DIR_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** A folder name from a request is refused (400); an unsafe entry already on disk is FOLDER_UNSAFE (500). */
export type FolderErrorCode =
  | 'FOLDER_INVALID'
  | 'FOLDER_RESERVED'
  | 'FOLDER_ID_INVALID'
  | 'FOLDER_ESCAPE'
  | 'FOLDER_UNSAFE';

export class FolderError extends AppError {
  override name = 'FolderError';
  constructor(code: FolderErrorCode, message: string) {
    super(code, message);
  }
}

export interface Owner {
  uid: number;
  gid: number;
}

export function checkFolderName(folder: string): void {
  if (typeof folder !== 'string' || !FOLDER_PATTERN.test(folder))
    throw new FolderError(
      'FOLDER_INVALID',
      `folder ${JSON.stringify(folder)} must match ${FOLDER_PATTERN.source}`,
    );
  if (RESERVED_FOLDERS.includes(folder))
    throw new FolderError('FOLDER_RESERVED', `folder "${folder}" is reserved`);
}

function checkDirId(kind: string, id: string): void {
  if (typeof id !== 'string' || !DIR_ID_PATTERN.test(id))
    throw new FolderError(
      'FOLDER_ID_INVALID',
      `${kind} id ${JSON.stringify(id)} is not a safe directory name`,
    );
}

export function groupsBase(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'groups');
}

export function sessionsBase(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'sessions');
}

export function globalDir(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'global');
}

export function groupDir(dataDir: string, folder: string): string {
  checkFolderName(folder);
  return path.join(groupsBase(dataDir), folder);
}

/** Where a group's Agent SDK state (~/.claude in its containers) lives: outside the folders agents see. */
export function agentStateBase(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'agent-state');
}

/** Creates (owned by the container user) and returns the group's Agent SDK state folder. */
export function agentStateDir(dataDir: string, folder: string, owner?: Owner): Promise<string> {
  checkFolderName(folder);
  return ensureDir(agentStateBase(dataDir), path.join(agentStateBase(dataDir), folder), owner);
}

export function sessionDir(dataDir: string, groupId: string, sessionId: string): string {
  checkDirId('group', groupId);
  checkDirId('session', sessionId);
  return path.join(sessionsBase(dataDir), groupId, sessionId);
}

/** True when `child` is `parent` or lies below it, compared by whole components (`/a/bc` is not inside `/a/b`). */
export function isWithin(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

async function lstatOrUndefined(p: string) {
  try {
    return await lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function checkExistingDir(p: string): Promise<boolean> {
  const st = await lstatOrUndefined(p);
  if (!st) return false;
  if (st.isSymbolicLink())
    throw new FolderError('FOLDER_UNSAFE', `${p} is a symbolic link; refusing to follow it`);
  if (!st.isDirectory()) throw new FolderError('FOLDER_UNSAFE', `${p} exists and is not a directory`);
  return true;
}

/**
 * Creates `target` (strictly inside `base`) one component at a time with mode 0700, refusing symlinks and
 * anything that resolves outside the real base. With `owner` and when running as root, the leaf is chowned
 * so a non-root container user can write to it. Returns the real path of the leaf.
 */
export async function ensureDir(base: string, target: string, owner?: Owner): Promise<string> {
  const absBase = path.resolve(base);
  const absTarget = path.resolve(absBase, target);
  const rel = path.relative(absBase, absTarget);
  if (rel === '' || !isWithin(absBase, absTarget))
    throw new FolderError('FOLDER_ESCAPE', `${target} is not inside ${absBase}`);
  await mkdir(absBase, { recursive: true, mode: 0o700 });
  const realBase = await realpath(absBase);
  let current = realBase;
  for (const part of rel.split(path.sep)) {
    current = path.join(current, part);
    if (await checkExistingDir(current)) continue;
    try {
      await mkdir(current, { mode: 0o700 });
      await chmod(current, 0o700); // the process umask must not widen or narrow this
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      await checkExistingDir(current); // lost a creation race: re-check what the other side made
    }
  }
  const real = await realpath(current);
  if (real !== current || !isWithin(realBase, real))
    throw new FolderError('FOLDER_UNSAFE', `${current} resolves outside ${realBase}`);
  if (owner && isRoot()) await chown(real, owner.uid, owner.gid);
  return real;
}
