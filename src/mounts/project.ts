import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { loadAllowlist } from './allowlist.ts';
import { type BlockedPattern, BUILTIN_BLOCKED_PATTERNS, compilePattern, matchBlocked } from './patterns.ts';

/** Hidden in the project besides the blocked patterns: git metadata holds remote URLs with tokens and credential helpers. */
export const PROJECT_EXTRA_HIDDEN = ['.git'] as const;

/** Bounds of the walk at each admin wake; past them the project is not mounted rather than mounted half-checked. */
export const PROJECT_SCAN_LIMITS = { entries: 50_000, depth: 64, hidden: 256 } as const;

export type Kind = 'dir' | 'file';

export interface HiddenPath {
  /** Relative to the project root, `/`-separated. */
  rel: string;
  kind: Kind;
  pattern: string;
}

export class ProjectScanError extends Error {}

/** Blocked patterns of the allowlist file (built-ins when there is none) plus PROJECT_EXTRA_HIDDEN. */
export async function projectPatterns(allowlistPath: string, homeDir: string): Promise<BlockedPattern[]> {
  const loaded = await loadAllowlist(allowlistPath, homeDir);
  const base = loaded.ok ? loaded.allowlist.blocked : BUILTIN_BLOCKED_PATTERNS.map(compilePattern);
  return [...base, ...PROJECT_EXTRA_HIDDEN.map(compilePattern)];
}

/**
 * Every path under `root` whose trailing components match a blocked pattern, at any depth. Symbolic
 * links are never followed; a link with a blocked name is hidden as what it points to (a dangling
 * one exposes nothing). Nothing below a hidden directory or a `skip` path is visited.
 */
export async function findHidden(
  root: string,
  patterns: BlockedPattern[],
  skip: string[],
): Promise<HiddenPath[]> {
  const hidden: HiddenPath[] = [];
  const skipped = new Set(skip);
  let entries = 0;
  const queue: Array<{ dir: string; parts: string[] }> = [{ dir: root, parts: [] }];
  while (queue.length > 0) {
    const { dir, parts } = queue.shift()!;
    let children: Dirent[];
    try {
      children = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      throw new ProjectScanError(`cannot read ${dir}: ${(err as Error).message}`);
    }
    children.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const child of children) {
      if (++entries > PROJECT_SCAN_LIMITS.entries)
        throw new ProjectScanError(`it has more than ${PROJECT_SCAN_LIMITS.entries} entries to check`);
      const full = path.join(dir, child.name);
      if (skipped.has(full)) continue;
      const rel = [...parts, child.name];
      // Any match must end here: one ending higher up would have hidden an ancestor, never entered.
      const pattern = matchBlocked(rel, patterns);
      if (pattern) {
        const kind = await kindOf(full);
        if (kind) hidden.push({ rel: rel.join('/'), kind, pattern });
        if (hidden.length > PROJECT_SCAN_LIMITS.hidden)
          throw new ProjectScanError(`more than ${PROJECT_SCAN_LIMITS.hidden} paths in it would need hiding`);
        continue;
      }
      if (child.isDirectory()) {
        if (rel.length >= PROJECT_SCAN_LIMITS.depth)
          throw new ProjectScanError(`it is nested deeper than ${PROJECT_SCAN_LIMITS.depth} levels`);
        queue.push({ dir: full, parts: rel });
      }
    }
  }
  return hidden;
}

async function kindOf(p: string): Promise<Kind | undefined> {
  try {
    return (await stat(p)).isDirectory() ? 'dir' : 'file';
  } catch {
    return undefined;
  }
}
