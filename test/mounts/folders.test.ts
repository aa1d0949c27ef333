import { mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureDir,
  FOLDER_PATTERN,
  FolderError,
  groupDir,
  isWithin,
  RESERVED_FOLDERS,
  sessionDir,
} from '../../src/mounts/folders.ts';

let tmp: string;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'berth-folders-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as FolderError).code;
  }
}

async function codeOfAsync(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(FolderError);
    return (err as FolderError).code;
  }
}

const mode = async (p: string) => (await stat(p)).mode & 0o777;

describe('folder names and ids', () => {
  it('builds paths under the data dir for valid names', () => {
    expect(groupDir('/data', 'main-group_1')).toBe('/data/groups/main-group_1');
    expect(sessionDir('/data', 'grp_0mf3k2x9a7q4h8c2v1abcd', 'ses_0mf3k2x9a7q4h8c2v1abcd')).toBe(
      '/data/sessions/grp_0mf3k2x9a7q4h8c2v1abcd/ses_0mf3k2x9a7q4h8c2v1abcd',
    );
    expect(FOLDER_PATTERN.test('a'.repeat(64))).toBe(true);
    expect(RESERVED_FOLDERS).toContain('global');
  });

  it.each([
    ['../x', 'FOLDER_INVALID'],
    ['a/b', 'FOLDER_INVALID'],
    ['', 'FOLDER_INVALID'],
    ['.', 'FOLDER_INVALID'],
    ['..', 'FOLDER_INVALID'],
    ['.hidden', 'FOLDER_INVALID'],
    ['Upper', 'FOLDER_INVALID'],
    ['-lead', 'FOLDER_INVALID'],
    ['a'.repeat(65), 'FOLDER_INVALID'],
    ['x\0y', 'FOLDER_INVALID'],
    ['global', 'FOLDER_RESERVED'],
  ])('refuses group folder %j', (folder, code) => {
    expect(codeOf(() => groupDir('/data', folder))).toBe(code);
  });

  it.each([
    ['../x', 'ses_1'],
    ['a/b', 'ses_1'],
    ['', 'ses_1'],
    ['grp_1', '..'],
    ['grp_1', '.'],
    ['grp_1', '../../etc'],
    ['grp_1', 'a\\b'],
    ['grp_1', ''],
    ['grp_1', 'x\0'],
  ])('refuses crafted ids group=%j session=%j', (groupId, sessionId) => {
    expect(codeOf(() => sessionDir('/data', groupId, sessionId))).toBe('FOLDER_ID_INVALID');
  });

  it('compares containment by whole components', () => {
    expect(isWithin('/a/b', '/a/b')).toBe(true);
    expect(isWithin('/a/b', '/a/b/c')).toBe(true);
    expect(isWithin('/a/b', '/a/bc')).toBe(false);
    expect(isWithin('/a/b', '/a')).toBe(false);
    expect(isWithin('/a/b', '/a/b/../c')).toBe(false);
    expect(isWithin('/a/b', '/a/b/..c')).toBe(true);
  });
});

describe('ensureDir', () => {
  it('creates every missing level with mode 0700 and returns the real path', async () => {
    const data = path.join(tmp, 'data1');
    const target = sessionDir(data, 'grp_1', 'ses_1');
    const made = await ensureDir(path.join(data, 'sessions'), target);
    expect(made).toBe(target);
    expect(await mode(data)).toBe(0o700);
    expect(await mode(path.join(data, 'sessions'))).toBe(0o700);
    expect(await mode(path.join(data, 'sessions', 'grp_1'))).toBe(0o700);
    expect(await mode(target)).toBe(0o700);
  });

  it('keeps 0700 under a permissive umask', async () => {
    const old = process.umask(0);
    try {
      const made = await ensureDir(path.join(tmp, 'umask'), path.join(tmp, 'umask', 'a', 'b'));
      expect(await mode(made)).toBe(0o700);
      expect(await mode(path.dirname(made))).toBe(0o700);
    } finally {
      process.umask(old);
    }
  });

  it('is idempotent and survives concurrent creation of the same path', async () => {
    const base = path.join(tmp, 'race');
    const target = path.join(base, 'g', 's');
    const results = await Promise.all(Array.from({ length: 8 }, () => ensureDir(base, target)));
    expect(new Set(results)).toEqual(new Set([target]));
    expect(await ensureDir(base, target)).toBe(target);
  });

  it('refuses targets that are the base or lie outside it', async () => {
    const base = path.join(tmp, 'outside-check');
    expect(await codeOfAsync(ensureDir(base, base))).toBe('FOLDER_ESCAPE');
    expect(await codeOfAsync(ensureDir(base, path.join(base, '..', 'elsewhere')))).toBe('FOLDER_ESCAPE');
    expect(await codeOfAsync(ensureDir(base, `${base}-sibling/x`))).toBe('FOLDER_ESCAPE');
    expect(await codeOfAsync(ensureDir(base, '/etc'))).toBe('FOLDER_ESCAPE');
  });

  it('refuses a symlinked intermediate directory and creates nothing through it', async () => {
    const base = path.join(tmp, 'sym-mid', 'sessions');
    const outside = path.join(tmp, 'sym-mid-outside');
    await mkdir(base, { recursive: true });
    await mkdir(outside);
    await symlink(outside, path.join(base, 'grp_1'));
    expect(await codeOfAsync(ensureDir(base, path.join(base, 'grp_1', 'ses_1')))).toBe('FOLDER_UNSAFE');
    expect(await readdir(outside)).toEqual([]);
  });

  it('refuses a symlinked leaf even when it points back inside the base', async () => {
    const base = path.join(tmp, 'sym-leaf');
    await mkdir(path.join(base, 'real'), { recursive: true });
    await symlink(path.join(base, 'real'), path.join(base, 'link'));
    expect(await codeOfAsync(ensureDir(base, path.join(base, 'link')))).toBe('FOLDER_UNSAFE');
  });

  it('accepts a base that is itself a symlink and returns paths under its real location', async () => {
    const real = path.join(tmp, 'real-data');
    const link = path.join(tmp, 'link-data');
    await mkdir(real);
    await symlink(real, link);
    expect(await ensureDir(link, path.join(link, 'groups', 'g'))).toBe(path.join(real, 'groups', 'g'));
  });

  it('refuses a file where a directory should be', async () => {
    const base = path.join(tmp, 'file-in-way');
    await mkdir(base);
    await writeFile(path.join(base, 'g'), 'x');
    expect(await codeOfAsync(ensureDir(base, path.join(base, 'g', 's')))).toBe('FOLDER_UNSAFE');
  });

  it.runIf(isRoot)('chowns only the leaf to the container user when running as root', async () => {
    const base = path.join(tmp, 'owned');
    const leaf = await ensureDir(base, path.join(base, 'g', 's'), { uid: 4321, gid: 8765 });
    const leafStat = await stat(leaf);
    expect([leafStat.uid, leafStat.gid]).toEqual([4321, 8765]);
    expect((await stat(path.dirname(leaf))).uid).toBe(0);
  });
});
