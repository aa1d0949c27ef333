import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import {
  type FileHandle,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  readlink,
  rmdir,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { isWithin } from './folders.ts';
import type { PlannedMount } from './types.ts';

/**
 * Extra mounts are checked by path, but the runtime resolves that path again when it mounts, so a
 * container that can write inside the tree could swap a checked directory for a symlink in between.
 * Each extra mount is therefore opened without following links, proved by /proc/self/fd to be the
 * checked path, and bind-mounted from that open descriptor onto a root-owned staging path inside the
 * data dir; the runtime only ever sees the staging path, which no container can change.
 */

export interface StagedMounts {
  mounts: PlannedMount[];
  /** Unmounts the staging binds; call once the container is gone. */
  release(): Promise<void>;
}

interface Log {
  warn(obj: object, msg: string): void;
}

export function stagingBase(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'staging');
}

// Node adds O_CLOEXEC itself; O_NONBLOCK keeps a FIFO swapped in from blocking the open.
const FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** Opens the checked path and proves the kernel's view of the open file is that same path. */
async function openChecked(hostPath: string): Promise<{ handle: FileHandle; dir: boolean } | string> {
  let handle: FileHandle;
  try {
    handle = await open(hostPath, FLAGS);
  } catch (err) {
    return `cannot be opened (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  const st = await handle.stat();
  // No /proc link means the path cannot be confirmed: undefined fails the comparison below, closed.
  const actual = await readlink(`/proc/self/fd/${handle.fd}`).catch(() => undefined);
  if (actual !== hostPath || !(st.isDirectory() || st.isFile())) {
    await handle.close();
    return 'changed between the check and the mount (a component was replaced)';
  }
  return { handle, dir: st.isDirectory() };
}

/** Binds the open descriptor (passed to mount as its fd 3) onto `target`, then checks the target is that file. */
async function bindFromHandle(handle: FileHandle, target: string): Promise<void> {
  // -c: the source is a magic link to the open file and must not be resolved back into a path.
  await run('mount', ['--bind', '-c', '/proc/self/fd/3', target], handle.fd);
  const [want, got] = await Promise.all([handle.stat(), stat(target)]);
  if (want.dev !== got.dev || want.ino !== got.ino) {
    await unmount(target);
    throw new Error(`staging bind ${target} does not show the opened file`);
  }
}

/** Runs a mount tool with an argument array; `fd`, if given, becomes the child's fd 3 (execa cannot pass one). */
function run(file: string, args: string[], fd?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      stdio: ['ignore', 'ignore', 'pipe', ...(fd === undefined ? [] : [fd])],
      timeout: 15_000,
    });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-2000);
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${file} ${args.join(' ')} failed (${code}): ${stderr.trim()}`)),
    );
  });
}

async function unmount(target: string): Promise<void> {
  await run('umount', ['--lazy', target]);
}

/** Removes a staging mountpoint without ever recursing: a path still mounted fails (EBUSY) instead of deleting host files. */
async function removeMountpoint(target: string): Promise<void> {
  // Already gone is the goal state.
  const st = await lstat(target).catch(() => undefined);
  if (!st) return;
  if (st.isDirectory()) await rmdir(target);
  else await unlink(target);
}

/**
 * Replaces each extra mount's host path with a staging bind under `<dataDir>/staging/<key>`; an extra
 * mount whose path changed since it was checked is dropped (and logged), never mounted by path.
 * Other mounts pass unchanged: their paths lie under the data dir, which containers cannot alter.
 */
export async function stageExtraMounts(
  dataDir: string,
  key: string[],
  mounts: PlannedMount[],
  log: Log,
): Promise<StagedMounts> {
  const dir = path.join(stagingBase(dataDir), ...key);
  const targets: string[] = [];
  const release = async () => {
    for (const target of targets.reverse()) {
      await unmount(target).catch((err) => log.warn({ err, target }, 'unmounting a staging bind failed'));
      await removeMountpoint(target).catch((err) =>
        log.warn({ err, target }, 'removing a staging mountpoint failed'),
      );
    }
    for (let d = dir; isWithin(stagingBase(dataDir), d) && d !== stagingBase(dataDir); d = path.dirname(d))
      if (
        !(await rmdir(d).then(
          () => true,
          () => false,
        ))
      )
        break; // still holds another run's binds
  };
  const out: PlannedMount[] = [];
  try {
    for (const [i, m] of mounts.entries()) {
      if (m.source !== 'extra') {
        out.push(m);
        continue;
      }
      const opened = await openChecked(m.hostPath);
      if (typeof opened === 'string') {
        log.warn({ hostPath: m.hostPath, containerPath: m.containerPath }, `extra mount dropped: ${opened}`);
        continue;
      }
      try {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const target = path.join(dir, String(i));
        if (opened.dir) await mkdir(target, { mode: 0o700 });
        else await writeFile(target, '', { flag: 'wx', mode: 0o600 });
        targets.push(target);
        await bindFromHandle(opened.handle, target);
        out.push({ ...m, hostPath: target });
      } finally {
        await opened.handle.close();
      }
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { mounts: out, release };
}

/** Mountpoints currently mounted at or below `dir`, deepest first, from /proc/self/mountinfo. */
async function mountsBelow(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8))))
    .filter((p) => isWithin(dir, p));
  return [...new Set(points)].sort((a, b) => b.length - a.length);
}

/** Unmounts and removes the staging binds left by instances that are gone (a crash skips release). */
export async function clearStaging(
  dataDir: string,
  isGone: (instanceId: string) => boolean,
  log: Log,
): Promise<void> {
  const base = stagingBase(dataDir);
  const instances = await readdir(base).catch(() => [] as string[]);
  for (const instance of instances.filter(isGone)) {
    const dir = path.join(base, instance);
    for (const point of await mountsBelow(dir))
      await unmount(point).catch((err) => log.warn({ err, point }, 'unmounting a stale staging bind failed'));
    for (const run of await readdir(dir).catch(() => [] as string[])) {
      for (const entry of await readdir(path.join(dir, run)).catch(() => [] as string[]))
        await removeMountpoint(path.join(dir, run, entry)).catch((err) =>
          log.warn({ err, entry }, 'removing a stale staging mountpoint failed'),
        );
      await rmdir(path.join(dir, run)).catch((err) =>
        log.warn({ err, run }, 'removing a staging dir failed'),
      );
    }
    await rmdir(dir).catch((err) => log.warn({ err, dir }, 'removing a staging dir failed'));
  }
}
