import { realpath } from 'node:fs/promises';
import path from 'node:path';

export const MAX_HOST_PATH = 4096;
export const MAX_CONTAINER_PATH = 255;
const NAME_PART = /^[A-Za-z0-9._-]+$/;

/** Expands a leading `~` or `~/`; `~user` forms are not supported and give undefined. */
export function expandHome(p: string, homeDir: string): string | undefined {
  if (p === '~') return homeDir;
  if (p.startsWith('~/')) return path.join(homeDir, p.slice(2));
  if (p.startsWith('~')) return undefined;
  return p;
}

/** Absolute path split into its non-empty components. */
export function components(abs: string): string[] {
  return abs.split(path.sep).filter((c) => c !== '');
}

/** realpath of the longest existing prefix plus the rest, for paths that may not exist yet. */
export async function resolveLoose(p: string): Promise<string> {
  const abs = path.resolve(p);
  let head = abs;
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(await realpath(head), ...tail);
    } catch {
      // This prefix does not exist yet: resolve its parent instead.
      const parent = path.dirname(head);
      if (parent === head) return abs;
      tail.unshift(path.basename(head));
      head = parent;
    }
  }
}

/** Reason the container path is unsafe, or undefined when it is a clean relative path. */
export function containerPathProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name.length > MAX_CONTAINER_PATH) return `is longer than ${MAX_CONTAINER_PATH} characters`;
  if (name.startsWith('/')) return 'must be relative (it is mounted under /workspace/extra/)';
  for (const part of name.split('/')) {
    if (part === '') return 'has an empty component (leading, trailing or doubled "/")';
    if (part === '.' || part === '..') return `has a "${part}" component`;
    if (!NAME_PART.test(part)) return 'has characters outside [A-Za-z0-9._-]';
  }
  return undefined;
}

/** True when one container path equals or nests inside the other. */
export function containerPathsOverlap(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
}
