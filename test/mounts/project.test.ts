import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILTIN_BLOCKED_PATTERNS } from '../../src/mounts/index.ts';
import { compilePattern } from '../../src/mounts/patterns.ts';
import {
  findHidden,
  PROJECT_SCAN_LIMITS,
  ProjectScanError,
  projectPatterns,
} from '../../src/mounts/project.ts';
import { tempDir } from '../support/db.ts';

const patterns = [...BUILTIN_BLOCKED_PATTERNS, '.git'].map(compilePattern);

async function tree(files: Record<string, string | null>): Promise<string> {
  const root = tempDir('berth-project-');
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    await mkdir(content === null ? full : path.dirname(full), { recursive: true });
    if (content !== null) await writeFile(full, content);
  }
  return root;
}

describe('blocked names in the project tree', () => {
  it('finds them at any depth, does not descend into hidden directories, and leaves the rest', async () => {
    const root = await tree({
      'README.md': 'readme',
      'sub/.env': 'SECRET=1',
      'sub/deeper/.env.local': 'SECRET=2',
      '.npmrc': '//registry/:_authToken=x',
      'keys/id_rsa': 'KEY',
      'keys/server.pem': 'PEM',
      '.git/config': '[remote] url=https://token@host/x',
      '.ssh/known_hosts': 'x',
      'app/.config/gh/hosts.yml': 'oauth_token: x',
      'app/src/main.ts': 'main',
      'app/environment.ts': 'not a secret',
      data: null,
    });
    const hidden = await findHidden(root, patterns, [path.join(root, 'data')]);
    expect(hidden.map((h) => [h.rel, h.kind]).sort()).toEqual(
      [
        ['.git', 'dir'],
        ['.npmrc', 'file'],
        ['.ssh', 'dir'],
        ['app/.config/gh', 'dir'],
        ['keys/id_rsa', 'file'],
        ['keys/server.pem', 'file'],
        ['sub/.env', 'file'],
        ['sub/deeper/.env.local', 'file'],
      ].sort(),
    );
  });

  it('never follows a symbolic link: a linked directory is not walked, a dangling blocked link is skipped', async () => {
    const outside = await tree({ '.env': 'OUTSIDE=1', 'inner/id_rsa': 'KEY' });
    const root = await tree({ 'a.txt': 'a' });
    await symlink(outside, path.join(root, 'linked'));
    await symlink(path.join(root, 'nowhere'), path.join(root, '.env'));
    await symlink(path.join(root, 'a.txt'), path.join(root, '.netrc'));
    const hidden = await findHidden(root, patterns, []);
    expect(hidden.map((h) => [h.rel, h.kind])).toEqual([['.netrc', 'file']]);
  });

  it('adds the allowlist file’s own patterns', async () => {
    const root = await tree({ 'conf/secret.yaml': 'x', 'allow.json': '' });
    const list = path.join(root, 'allow.json');
    await writeFile(list, JSON.stringify({ allowedRoots: [], blockedPatterns: ['secret.yaml'] }));
    const hidden = await findHidden(root, await projectPatterns(list, root), [list]);
    expect(hidden.map((h) => h.rel)).toEqual(['conf/secret.yaml']);
  });

  it('refuses, rather than half-checks, a tree past its bounds', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i <= PROJECT_SCAN_LIMITS.hidden; i++) files[`k${i}/.env`] = 'x';
    const root = await tree(files);
    await expect(findHidden(root, patterns, [])).rejects.toBeInstanceOf(ProjectScanError);
    const deep = await tree({
      [`${Array.from({ length: PROJECT_SCAN_LIMITS.depth + 1 }, () => 'd').join('/')}/f`]: 'x',
    });
    await expect(findHidden(deep, patterns, [])).rejects.toThrow(/deeper than/);
  });
});
