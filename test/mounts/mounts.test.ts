import { mkdtempSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderError } from '../../src/mounts/folders.ts';
import {
  type CheckContext,
  checkExtraMounts,
  type ExtraMountRequest,
  loadAllowlist,
  MountPlanError,
  type PlanContext,
  planMounts,
  type Trust,
} from '../../src/mounts/index.ts';

// Everything lives in a throwaway tree: `home` is a fake home directory, never the real one.
const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-mounts-'));
const home = path.join(tmp, 'home');
let allowlistPath: string;
let dataDir: string;
let projectRoot: string;
let socketServer: net.Server;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const h = (rel: string) => path.join(home, rel);

async function file(rel: string, text = 'x'): Promise<void> {
  await mkdir(path.dirname(h(rel)), { recursive: true });
  await writeFile(h(rel), text);
}

async function dir(rel: string): Promise<void> {
  await mkdir(h(rel), { recursive: true });
}

beforeAll(async () => {
  await file('.ssh/id_ed25519', 'PRIVATE');
  await file('.aws/credentials', 'aws');
  await dir('projects/app/src');
  await file('projects/envapp/.env', 'SECRET=1');
  await file('projects/envapp/.env.local', 'SECRET=2');
  await dir('projects/.sshkeys');
  await dir('projects/.SSH');
  await dir('projects/.ѕsh'); // Cyrillic "ѕ" (U+0455): a different name from ".ssh"
  await dir('projects/secrets/docs');
  await dir('projects/secrets-public');
  await dir('projects/deploy/keys');
  await dir('projects/other/keys');
  await file('projects/notes.pem');
  await file('projects/readme.txt');
  await dir('projects/with space');
  await dir('projects/nested/sub');
  await dir('projects/ro/docs');
  await dir('projects/real/x');
  await dir('projects2');
  await dir('readonly-root/docs');
  await dir('outside');
  await symlink(h('.ssh'), h('projects/keys'));
  await symlink(h('outside'), h('projects/out-link'));
  await symlink(h('nowhere'), h('projects/dangling'));
  await symlink(h('projects/real'), h('linkroot'));
  projectRoot = h('projects/berth');
  dataDir = path.join(projectRoot, 'data');
  await file('projects/berth/src/main.ts', 'main');
  await file('projects/berth/.env', 'BERTH_API_TOKEN=secret');
  await file('projects/berth/.env.production', 'SECRET=3');
  await dir('projects/berth/data/groups/other');
  allowlistPath = h('.config/berth/mount-allowlist.json');
  await file(
    '.config/berth/mount-allowlist.json',
    JSON.stringify({
      allowedRoots: [
        { path: '~/projects', allowReadWrite: true, description: 'code' },
        { path: '~/projects/ro', allowReadWrite: false },
        { path: '~/readonly-root' },
        { path: '~/linkroot', allowReadWrite: true },
        { path: '~/.config', allowReadWrite: true },
        { path: '~/does-not-exist', allowReadWrite: true },
      ],
      blockedPatterns: ['secrets', 'deploy/keys'],
    }),
  );
  socketServer = net.createServer();
  await new Promise<void>((resolve) => socketServer.listen(h('projects/runtime.sock'), resolve));
});

afterAll(async () => {
  await new Promise<void>((resolve) => socketServer.close(() => resolve()));
  await rm(tmp, { recursive: true, force: true });
});

const ctx = (trust: Trust, over: Partial<CheckContext> = {}): CheckContext => ({
  trust,
  allowlistPath,
  dataDir,
  homeDir: home,
  ...over,
});

async function checkOne(req: ExtraMountRequest, trust: Trust = 'member') {
  const { accepted, refused } = await checkExtraMounts([req], ctx(trust));
  expect(accepted.length + refused.length).toBe(1);
  return { accepted: accepted[0], refused: refused[0] };
}

type Case = [name: string, req: ExtraMountRequest, trust: Trust, code: string];

const refusedCases: Case[] = [
  // container paths
  [
    '.. in container path',
    { hostPath: '~/projects/app', containerPath: '../escape' },
    'admin',
    'MOUNT_BAD_CONTAINER_PATH',
  ],
  [
    '.. in the middle',
    { hostPath: '~/projects/app', containerPath: 'a/../../b' },
    'admin',
    'MOUNT_BAD_CONTAINER_PATH',
  ],
  [
    'absolute container path',
    { hostPath: '~/projects/app', containerPath: '/etc' },
    'admin',
    'MOUNT_BAD_CONTAINER_PATH',
  ],
  [
    'empty container path',
    { hostPath: '~/projects/app', containerPath: '' },
    'admin',
    'MOUNT_BAD_CONTAINER_PATH',
  ],
  [
    '"." container path',
    { hostPath: '~/projects/app', containerPath: '.' },
    'admin',
    'MOUNT_BAD_CONTAINER_PATH',
  ],
  [
    'doubled slash in container path',
    { hostPath: '~/projects/app', containerPath: 'a//b' },
    'admin',
    'MOUNT_BAD_CONTAINER_PATH',
  ],
  [
    'trailing slash in container path',
    { hostPath: '~/projects/app', containerPath: 'a/' },
    'admin',
    'MOUNT_BAD_CONTAINER_PATH',
  ],
  [
    'colon in container path',
    { hostPath: '~/projects/app', containerPath: 'a:rw' },
    'admin',
    'MOUNT_BAD_CONTAINER_PATH',
  ],
  [
    'look-alike letters in container path',
    { hostPath: '~/projects/app', containerPath: 'dаta' },
    'admin',
    'MOUNT_BAD_CONTAINER_PATH',
  ],
  [
    'overlong container path',
    { hostPath: '~/projects/app', containerPath: 'x'.repeat(256) },
    'admin',
    'MOUNT_BAD_CONTAINER_PATH',
  ],
  ['default name with a space', { hostPath: '~/projects/with space' }, 'member', 'MOUNT_BAD_CONTAINER_PATH'],
  [
    'default name with look-alike letters',
    { hostPath: '~/projects/.ѕsh' },
    'member',
    'MOUNT_BAD_CONTAINER_PATH',
  ],
  // blocked names, matched on whole components of the resolved path
  [
    'symlink from an allowed root to ~/.ssh',
    { hostPath: '~/projects/keys' },
    'member',
    'MOUNT_BLOCKED_PATTERN',
  ],
  [
    'file inside a symlinked .ssh',
    { hostPath: '~/projects/keys/id_ed25519', containerPath: 'k' },
    'member',
    'MOUNT_BLOCKED_PATTERN',
  ],
  ['.. climbing out to ~/.ssh', { hostPath: '~/projects/../.ssh' }, 'member', 'MOUNT_BLOCKED_PATTERN'],
  [
    'parent is a blocked name',
    { hostPath: '~/.aws/credentials', containerPath: 'c' },
    'member',
    'MOUNT_BLOCKED_PATTERN',
  ],
  [
    'parent matches a file pattern',
    { hostPath: '~/projects/secrets/docs' },
    'member',
    'MOUNT_BLOCKED_PATTERN',
  ],
  ['multi-component file pattern', { hostPath: '~/projects/deploy/keys' }, 'member', 'MOUNT_BLOCKED_PATTERN'],
  [
    '.env file',
    { hostPath: '~/projects/envapp/.env', containerPath: 'env' },
    'member',
    'MOUNT_BLOCKED_PATTERN',
  ],
  [
    '.env.local file',
    { hostPath: '~/projects/envapp/.env.local', containerPath: 'env' },
    'member',
    'MOUNT_BLOCKED_PATTERN',
  ],
  ['*.pem file', { hostPath: '~/projects/notes.pem' }, 'member', 'MOUNT_BLOCKED_PATTERN'],
  [
    'blocked name in another case',
    { hostPath: '~/projects/.SSH', containerPath: 'up' },
    'member',
    'MOUNT_BLOCKED_PATTERN',
  ],
  // protected paths
  [
    'the allowlist file itself',
    { hostPath: '~/.config/berth/mount-allowlist.json', containerPath: 'a' },
    'admin',
    'MOUNT_PROTECTED_PATH',
  ],
  ['a directory containing the allowlist', { hostPath: '~/.config/berth' }, 'admin', 'MOUNT_PROTECTED_PATH'],
  [
    'a grandparent of the allowlist',
    { hostPath: '~/.config', containerPath: 'cfg' },
    'admin',
    'MOUNT_PROTECTED_PATH',
  ],
  ['the data dir', { hostPath: '~/projects/berth/data' }, 'admin', 'MOUNT_PROTECTED_PATH'],
  [
    'a folder inside the data dir',
    { hostPath: '~/projects/berth/data/groups/other' },
    'admin',
    'MOUNT_PROTECTED_PATH',
  ],
  ['a directory containing the data dir', { hostPath: '~/projects/berth' }, 'admin', 'MOUNT_PROTECTED_PATH'],
  [
    'the data dir through a trailing slash and //',
    { hostPath: '~/projects//berth/data/' },
    'admin',
    'MOUNT_PROTECTED_PATH',
  ],
  // host paths
  ['nonexistent path', { hostPath: '~/projects/missing' }, 'member', 'MOUNT_PATH_MISSING'],
  ['dangling symlink', { hostPath: '~/projects/dangling' }, 'member', 'MOUNT_PATH_MISSING'],
  ['path through a file', { hostPath: '~/projects/readme.txt/x' }, 'member', 'MOUNT_PATH_MISSING'],
  [
    'overlong component',
    { hostPath: `~/projects/${'a'.repeat(300)}`, containerPath: 'l' },
    'member',
    'MOUNT_BAD_HOST_PATH',
  ],
  [
    'overlong path',
    { hostPath: `~/projects/${'a/'.repeat(2100)}`, containerPath: 'l' },
    'member',
    'MOUNT_BAD_HOST_PATH',
  ],
  ['relative host path', { hostPath: 'projects/app' }, 'member', 'MOUNT_BAD_HOST_PATH'],
  ['~user host path', { hostPath: '~root/app' }, 'member', 'MOUNT_BAD_HOST_PATH'],
  ['NUL byte', { hostPath: '~/projects/app\0/x' }, 'member', 'MOUNT_BAD_HOST_PATH'],
  ['empty host path', { hostPath: '' }, 'member', 'MOUNT_BAD_HOST_PATH'],
  ['a socket', { hostPath: '~/projects/runtime.sock' }, 'admin', 'MOUNT_BAD_HOST_PATH'],
  ['outside every root', { hostPath: '~/outside' }, 'admin', 'MOUNT_NOT_ALLOWED_ROOT'],
  ['sibling sharing a root prefix', { hostPath: '~/projects2' }, 'admin', 'MOUNT_NOT_ALLOWED_ROOT'],
  [
    'symlink from an allowed root to outside',
    { hostPath: '~/projects/out-link' },
    'admin',
    'MOUNT_NOT_ALLOWED_ROOT',
  ],
  ['system path', { hostPath: '/etc' }, 'admin', 'MOUNT_NOT_ALLOWED_ROOT'],
  // read-write
  [
    'member asking for read-write',
    { hostPath: '~/projects/app', readonly: false },
    'member',
    'MOUNT_RW_DENIED',
  ],
  [
    'admin read-write under a read-only root',
    { hostPath: '~/readonly-root/docs', readonly: false },
    'admin',
    'MOUNT_RW_DENIED',
  ],
  [
    'admin read-write under a narrower read-only root',
    { hostPath: '~/projects/ro/docs', readonly: false },
    'admin',
    'MOUNT_RW_DENIED',
  ],
  [
    'readonly that is not a boolean',
    { hostPath: '~/projects/app', readonly: 'no' as unknown as boolean },
    'admin',
    'MOUNT_BAD_REQUEST',
  ],
];

describe('checkExtraMounts: refusals', () => {
  it.each(refusedCases)('%s', async (_name, req, trust, code) => {
    const { accepted, refused } = await checkOne(req, trust);
    expect(accepted).toBeUndefined();
    expect(refused).toMatchObject({ index: 0, code });
    expect(refused!.reason.length).toBeGreaterThan(10);
  });

  it('explains refusals in words a user can act on', async () => {
    const { refused } = await checkExtraMounts(
      [
        { hostPath: '~/projects/app', readonly: false },
        { hostPath: '~/projects/keys' },
        { hostPath: '~/outside' },
      ],
      ctx('member'),
    );
    expect(refused[0]!.reason).toMatch(/member groups get read-only/);
    expect(refused[1]!.reason).toMatch(/blocked pattern "\.ssh"/);
    expect(refused[2]!.reason).toContain(allowlistPath);
  });
});

describe('checkExtraMounts: acceptances', () => {
  const real = (rel: string) => h(rel);

  it.each([
    [
      'a plain directory, read-only by default',
      { hostPath: '~/projects/app' },
      'member',
      real('projects/app'),
      '/workspace/extra/app',
      true,
    ],
    [
      'admin read-write under a read-write root',
      { hostPath: '~/projects/app', readonly: false },
      'admin',
      real('projects/app'),
      '/workspace/extra/app',
      false,
    ],
    [
      'member asking read-only explicitly',
      { hostPath: '~/projects/app', readonly: true },
      'member',
      real('projects/app'),
      '/workspace/extra/app',
      true,
    ],
    [
      'admin read-only under a read-only root',
      { hostPath: '~/readonly-root/docs' },
      'admin',
      real('readonly-root/docs'),
      '/workspace/extra/docs',
      true,
    ],
    [
      'trailing slashes',
      { hostPath: '~/projects/app///' },
      'member',
      real('projects/app'),
      '/workspace/extra/app',
      true,
    ],
    [
      'doubled slashes and dot segments',
      { hostPath: '~/projects//./app/../app' },
      'member',
      real('projects/app'),
      '/workspace/extra/app',
      true,
    ],
    [
      'absolute host path',
      { hostPath: h('projects/app/src') },
      'member',
      real('projects/app/src'),
      '/workspace/extra/src',
      true,
    ],
    [
      'nested container path',
      { hostPath: '~/projects/app', containerPath: 'code/app-v1.2' },
      'member',
      real('projects/app'),
      '/workspace/extra/code/app-v1.2',
      true,
    ],
    [
      '.sshkeys is not .ssh',
      { hostPath: '~/projects/.sshkeys' },
      'member',
      real('projects/.sshkeys'),
      '/workspace/extra/.sshkeys',
      true,
    ],
    [
      'a look-alike of .ssh with an ASCII container name',
      { hostPath: '~/projects/.ѕsh', containerPath: 'lookalike' },
      'member',
      real('projects/.ѕsh'),
      '/workspace/extra/lookalike',
      true,
    ],
    [
      'secrets-public is not secrets',
      { hostPath: '~/projects/secrets-public' },
      'member',
      real('projects/secrets-public'),
      '/workspace/extra/secrets-public',
      true,
    ],
    [
      'keys outside deploy/ is not deploy/keys',
      { hostPath: '~/projects/other/keys' },
      'member',
      real('projects/other/keys'),
      '/workspace/extra/keys',
      true,
    ],
    [
      'a regular file',
      { hostPath: '~/projects/readme.txt' },
      'member',
      real('projects/readme.txt'),
      '/workspace/extra/readme.txt',
      true,
    ],
    [
      'a path under a symlinked allowed root',
      { hostPath: '~/linkroot/x', readonly: false },
      'admin',
      real('projects/real/x'),
      '/workspace/extra/x',
      false,
    ],
    // Blocked patterns apply to the mounted path and its parents, not to what it contains.
    [
      'a directory that contains a .env',
      { hostPath: '~/projects/envapp' },
      'member',
      real('projects/envapp'),
      '/workspace/extra/envapp',
      true,
    ],
  ] as const)('%s', async (_name, req, trust, hostPath, containerPath, readonly) => {
    const { accepted, refused } = await checkOne(req, trust);
    expect(refused).toBeUndefined();
    expect(accepted).toEqual({ hostPath, containerPath, readonly, source: 'extra' });
  });
});

describe('checkExtraMounts: several requests', () => {
  it('refuses later mounts whose container path equals or nests with an accepted one', async () => {
    const { accepted, refused } = await checkExtraMounts(
      [
        { hostPath: '~/projects/app' },
        { hostPath: '~/projects/nested/sub', containerPath: 'app' },
        { hostPath: '~/projects/nested', containerPath: 'app/inner' },
        { hostPath: '~/projects/nested/sub', containerPath: 'ap' },
      ],
      ctx('member'),
    );
    expect(accepted.map((m) => m.containerPath)).toEqual(['/workspace/extra/app', '/workspace/extra/ap']);
    expect(refused.map((r) => [r.index, r.code])).toEqual([
      [1, 'MOUNT_COLLISION'],
      [2, 'MOUNT_COLLISION'],
    ]);
  });

  it('does not count a refused mount as taking its name', async () => {
    const { accepted, refused } = await checkExtraMounts(
      [
        { hostPath: '~/projects/keys', containerPath: 'k' },
        { hostPath: '~/projects/app', containerPath: 'k' },
      ],
      ctx('member'),
    );
    expect(refused.map((r) => r.code)).toEqual(['MOUNT_BLOCKED_PATTERN']);
    expect(accepted.map((m) => m.containerPath)).toEqual(['/workspace/extra/k']);
  });

  it('lets the same host path appear under two names', async () => {
    const { accepted } = await checkExtraMounts(
      [{ hostPath: '~/projects/app' }, { hostPath: '~/projects/app', containerPath: 'again' }],
      ctx('member'),
    );
    expect(accepted).toHaveLength(2);
  });

  it('refuses extra protected paths passed by the caller', async () => {
    const { refused } = await checkExtraMounts(
      [{ hostPath: '~/projects/nested' }],
      ctx('admin', { protectedPaths: [h('projects/nested/sub/creds.json')] }),
    );
    expect(refused[0]).toMatchObject({ code: 'MOUNT_PROTECTED_PATH' });
  });

  it('never lets a mount contain the home directory', async () => {
    const list = path.join(tmp, 'wide-allowlist.json');
    await writeFile(list, JSON.stringify({ allowedRoots: [{ path: tmp }] }));
    const { refused } = await checkExtraMounts(
      [{ hostPath: home }, { hostPath: tmp, containerPath: 't' }],
      ctx('admin', { allowlistPath: list, dataDir: path.join(tmp, 'other-data') }),
    );
    expect(refused.map((r) => r.code)).toEqual(['MOUNT_PROTECTED_PATH', 'MOUNT_PROTECTED_PATH']);
    expect(refused[0]!.reason).toMatch(/home directory/);
  });
});

describe('allowlist file', () => {
  const write = async (name: string, text: string) => {
    const p = path.join(tmp, name);
    await writeFile(p, text);
    return p;
  };

  it('missing: every requested mount is refused, naming the path', async () => {
    const missing = path.join(tmp, 'no-such-allowlist.json');
    const { accepted, refused } = await checkExtraMounts(
      [{ hostPath: '~/projects/app' }, { hostPath: '~/projects/nested' }],
      ctx('admin', { allowlistPath: missing }),
    );
    expect(accepted).toEqual([]);
    expect(refused).toEqual([
      {
        index: 0,
        hostPath: '~/projects/app',
        code: 'MOUNT_NO_ALLOWLIST',
        reason: `no allowlist at ${missing}`,
      },
      {
        index: 1,
        hostPath: '~/projects/nested',
        code: 'MOUNT_NO_ALLOWLIST',
        reason: `no allowlist at ${missing}`,
      },
    ]);
  });

  it('missing: an empty request list is fine', async () => {
    const result = await checkExtraMounts([], ctx('admin', { allowlistPath: path.join(tmp, 'nope.json') }));
    expect(result).toEqual({ accepted: [], refused: [] });
  });

  it.each([
    ['invalid JSON', '{ "allowedRoots": [', /not valid JSON/],
    ['not an object', '[]', /must be a JSON object/],
    ['a misspelt key', '{"allowedRoots": [], "blockPatterns": ["x"]}', /unknown key "blockPatterns"/],
    ['roots not an array', '{"allowedRoots": "~/projects"}', /allowedRoots must be an array/],
    ['relative root', '{"allowedRoots": [{"path": "projects"}]}', /must be absolute/],
    ['non-boolean allowReadWrite', '{"allowedRoots": [{"path": "/x", "allowReadWrite": "yes"}]}', /boolean/],
    ['a ".." pattern', '{"allowedRoots": [], "blockedPatterns": ["a/../b"]}', /blockedPatterns\[0\]/],
    ['an empty pattern', '{"allowedRoots": [], "blockedPatterns": [""]}', /blockedPatterns\[0\]/],
  ])('invalid (%s): refused with the file and the error', async (name, text, detail) => {
    const p = await write(`bad-${name.replace(/\W+/g, '-')}.json`, text);
    const { refused } = await checkExtraMounts(
      [{ hostPath: '~/projects/app' }],
      ctx('admin', { allowlistPath: p }),
    );
    expect(refused[0]).toMatchObject({ code: 'MOUNT_ALLOWLIST_INVALID' });
    expect(refused[0]!.reason).toContain(p);
    expect(refused[0]!.reason).toMatch(detail);
  });

  it('a directory in place of the file is reported as unreadable', async () => {
    const result = await loadAllowlist(tmp, home);
    expect(result).toMatchObject({ ok: false, code: 'MOUNT_ALLOWLIST_INVALID' });
  });

  it('loads roots with ~ expanded and realpath-resolved, built-in patterns first', async () => {
    const result = await loadAllowlist(allowlistPath, home);
    if (!result.ok) throw new Error(result.reason);
    const roots = result.allowlist.roots;
    expect(roots.find((r) => r.path === '~/linkroot')?.realPath).toBe(h('projects/real'));
    expect(roots.find((r) => r.path === '~/does-not-exist')?.realPath).toBeUndefined();
    expect(roots.find((r) => r.path === '~/readonly-root')?.allowReadWrite).toBe(false);
    const patterns = result.allowlist.blocked.map((b) => b.pattern);
    expect(patterns.slice(0, 2)).toEqual(['.ssh', '.gnupg']);
    expect(patterns.slice(-2)).toEqual(['secrets', 'deploy/keys']);
  });

  it('picks up edits without a restart', async () => {
    const p = await write('editable.json', JSON.stringify({ allowedRoots: [] }));
    const before = await checkExtraMounts(
      [{ hostPath: '~/projects/app' }],
      ctx('member', { allowlistPath: p }),
    );
    expect(before.refused[0]?.code).toBe('MOUNT_NOT_ALLOWED_ROOT');
    await writeFile(p, JSON.stringify({ allowedRoots: [{ path: '~/projects' }] }));
    const after = await checkExtraMounts(
      [{ hostPath: '~/projects/app' }],
      ctx('member', { allowlistPath: p }),
    );
    expect(after.accepted).toHaveLength(1);
  });
});

describe('planMounts', () => {
  let n = 0;
  const plan = (trust: Trust, over: Partial<PlanContext> = {}) => {
    n += 1;
    return planMounts({
      ...ctx(trust),
      groupFolder: `group-${n}`,
      groupId: `grp_${n}`,
      sessionId: `ses_${n}`,
      projectRoot,
      extra: [],
      ...over,
    });
  };
  const mode = async (p: string) => (await stat(p)).mode & 0o777;

  it('member: session, group and read-only global; no project; folders created 0700', async () => {
    const { mounts, refused } = await plan('member', {
      extra: [{ hostPath: '~/projects/app', readonly: false }],
    });
    expect(mounts.map((m) => [m.source, m.containerPath, m.readonly])).toEqual([
      ['session', '/workspace', false],
      ['group', '/workspace/group', false],
      ['global', '/workspace/global', true],
    ]);
    expect(mounts[0]!.hostPath).toBe(path.join(dataDir, 'sessions', `grp_${n}`, `ses_${n}`));
    expect(mounts[1]!.hostPath).toBe(path.join(dataDir, 'groups', `group-${n}`));
    expect(mounts[2]!.hostPath).toBe(path.join(dataDir, 'global'));
    for (const m of mounts) expect(await mode(m.hostPath)).toBe(0o700);
    expect(refused.map((r) => r.code)).toEqual(['MOUNT_RW_DENIED']);
  });

  it('admin: read-write global, read-only project with .env files (any depth) and the data dir hidden', async () => {
    const { mounts } = await plan('admin', { extra: [{ hostPath: '~/projects/app', readonly: false }] });
    expect(mounts.map((m) => [m.source, m.containerPath, m.readonly])).toEqual([
      ['session', '/workspace', false],
      ['group', '/workspace/group', false],
      ['global', '/workspace/global', false],
      ['project', '/workspace/project', true],
      ['secret-shadow', '/workspace/project/.env', true],
      ['secret-shadow', '/workspace/project/.env.production', true],
      ['protected-shadow', '/workspace/project/data', true],
      ['extra', '/workspace/extra/app', false],
    ]);
    expect(mounts[3]!.hostPath).toBe(projectRoot);
    expect(mounts[4]!.hostPath).toBe('/dev/null');
    const emptyDir = mounts[6]!.hostPath;
    expect(path.dirname(emptyDir)).toBe(dataDir);
    expect(await mode(emptyDir)).toBe(0o700);
  });

  it('admin: a .env directory is hidden behind an empty directory, a dangling .env link is skipped', async () => {
    const project = h('projects/dotenv-dir');
    await mkdir(path.join(project, '.env'), { recursive: true });
    await symlink(h('nowhere'), path.join(project, '.env.local'));
    const { mounts } = await plan('admin', { projectRoot: project });
    const shadows = mounts.filter((m) => m.source === 'secret-shadow');
    expect(shadows).toHaveLength(1);
    expect(shadows[0]!.containerPath).toBe('/workspace/project/.env');
    expect((await stat(shadows[0]!.hostPath)).isDirectory()).toBe(true);
  });

  it('admin: hides the allowlist when it lies inside the project', async () => {
    const project = h('projects/with-allowlist');
    await mkdir(path.join(project, 'conf'), { recursive: true });
    const list = path.join(project, 'conf', 'allow.json');
    await writeFile(list, await readFile(allowlistPath));
    const { mounts } = await plan('admin', { projectRoot: project, allowlistPath: list });
    expect(mounts.find((m) => m.source === 'protected-shadow')).toEqual({
      hostPath: '/dev/null',
      containerPath: '/workspace/project/conf/allow.json',
      readonly: true,
      source: 'protected-shadow',
    });
  });

  it('admin: refuses a project root inside the data dir, and a missing project root', async () => {
    await expect(plan('admin', { projectRoot: path.join(dataDir, 'groups') })).rejects.toMatchObject({
      code: 'MOUNT_PROJECT_PROTECTED',
    });
    await expect(plan('admin', { projectRoot: h('no-project') })).rejects.toBeInstanceOf(MountPlanError);
  });

  it('refuses crafted folder and ids before touching the disk', async () => {
    await expect(plan('member', { groupFolder: '../x' })).rejects.toBeInstanceOf(FolderError);
    await expect(plan('member', { sessionId: '../../x' })).rejects.toMatchObject({
      code: 'FOLDER_ID_INVALID',
    });
    await expect(plan('member', { groupFolder: 'global' })).rejects.toMatchObject({
      code: 'FOLDER_RESERVED',
    });
  });

  it('replaces symlinks a previous run left at mountpoints inside the session dir', async () => {
    const victim = h('outside');
    const first = await plan('member', { extra: [{ hostPath: '~/projects/readme.txt' }] });
    const session = first.mounts[0]!.hostPath;
    await rm(path.join(session, 'group'), { recursive: true });
    await symlink(victim, path.join(session, 'group'));
    await rm(path.join(session, 'extra'), { recursive: true });
    await symlink(victim, path.join(session, 'extra'));
    n -= 1; // same group and session again
    await plan('member', { extra: [{ hostPath: '~/projects/readme.txt' }] });
    expect((await lstat(path.join(session, 'group'))).isDirectory()).toBe(true);
    expect((await lstat(path.join(session, 'extra'))).isDirectory()).toBe(true);
    expect((await lstat(path.join(session, 'extra', 'readme.txt'))).isFile()).toBe(true);
    expect(await readdir(victim)).toEqual([]);
  });

  it.runIf(isRoot)('chowns the mounted folders to the container user when running as root', async () => {
    const { mounts } = await plan('member', { owner: { uid: 1000, gid: 1000 } });
    for (const m of mounts.slice(0, 3)) expect((await stat(m.hostPath)).uid).toBe(1000);
  });
});
