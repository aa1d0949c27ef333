import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { describe, expect, it } from 'vitest';
import { clearStaging, stageExtraMounts, stagingBase } from '../../src/mounts/staging.ts';
import type { PlannedMount } from '../../src/mounts/types.ts';
import { tempDir } from '../support/db.ts';

const isRoot = process.getuid?.() === 0;
const inCi = process.env.CI === 'true' || process.env.CI === '1';
if (!isRoot && inCi) throw new Error('the staging tests need root (bind mounts) in CI');
if (!isRoot) console.warn('\n*** SKIPPING staging bind tests: they need root ***\n');

const warnings: string[] = [];
const log = { warn: (_obj: object, msg: string) => void warnings.push(msg) };

const extra = (hostPath: string, name: string): PlannedMount => ({
  hostPath,
  containerPath: `/workspace/extra/${name}`,
  readonly: true,
  source: 'extra',
});

function mountedAt(p: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === p);
}

describe.skipIf(!isRoot)('staging binds for extra mounts', () => {
  it('binds the checked directory and file to root-owned staging paths, then releases them', async () => {
    const root = realpathSync(tempDir('berth-stage-'));
    const dataDir = path.join(root, 'data');
    mkdirSync(path.join(root, 'shared'));
    writeFileSync(path.join(root, 'shared', 'marker'), 'checked');
    writeFileSync(path.join(root, 'notes.txt'), 'a file');
    const session: PlannedMount = {
      hostPath: root,
      containerPath: '/workspace',
      readonly: false,
      source: 'session',
    };
    const staged = await stageExtraMounts(
      dataDir,
      ['inst-a', 's1-1'],
      [session, extra(path.join(root, 'shared'), 'shared'), extra(path.join(root, 'notes.txt'), 'notes')],
      log,
    );
    expect(staged.mounts[0]).toEqual(session);
    const [dir, file] = [staged.mounts[1]!.hostPath, staged.mounts[2]!.hostPath];
    expect(dir.startsWith(`${stagingBase(dataDir)}/inst-a/s1-1/`)).toBe(true);
    expect(readdirSync(dir)).toEqual(['marker']);
    expect(readFileSync(file, 'utf8')).toBe('a file');
    expect(statSync(dir).ino).toBe(statSync(path.join(root, 'shared')).ino);
    expect(statSync(path.dirname(dir)).uid).toBe(0);
    await staged.release();
    expect(mountedAt(dir) || mountedAt(file)).toBe(false);
    expect(existsSync(path.join(stagingBase(dataDir), 'inst-a'))).toBe(false);
    expect(readFileSync(path.join(root, 'shared', 'marker'), 'utf8')).toBe('checked');
  });

  it('drops a mount whose checked directory was swapped for a symlink, at the leaf or above it', async () => {
    const root = realpathSync(tempDir('berth-stage-'));
    const dataDir = path.join(root, 'data');
    for (const d of ['tree/leaf', 'tree/mid/deep']) mkdirSync(path.join(root, d), { recursive: true });
    const leaf = path.join(root, 'tree', 'leaf');
    const deep = path.join(root, 'tree', 'mid', 'deep');
    // What a container with write access to tree/ does between berth's check and the runtime's mount.
    renameSync(leaf, `${leaf}.old`);
    symlinkSync('/etc', leaf);
    renameSync(path.join(root, 'tree', 'mid'), path.join(root, 'tree', 'mid.old'));
    mkdirSync(path.join(root, 'elsewhere', 'deep'), { recursive: true });
    symlinkSync(path.join(root, 'elsewhere'), path.join(root, 'tree', 'mid'));
    warnings.length = 0;
    const staged = await stageExtraMounts(
      dataDir,
      ['inst-b', 's1-1'],
      [extra(leaf, 'leaf'), extra(deep, 'deep')],
      log,
    );
    expect(staged.mounts).toEqual([]);
    expect(warnings).toHaveLength(2);
    expect(warnings.every((w) => w.includes('extra mount dropped'))).toBe(true);
    await staged.release();
  });

  it('clears binds a crashed instance left behind, never deleting through them', async () => {
    const root = realpathSync(tempDir('berth-stage-'));
    const dataDir = path.join(root, 'data');
    mkdirSync(path.join(root, 'shared'));
    writeFileSync(path.join(root, 'shared', 'keep'), 'host data');
    const staged = await stageExtraMounts(
      dataDir,
      ['host-dead', 's1-1'],
      [extra(path.join(root, 'shared'), 'x')],
      log,
    );
    const target = staged.mounts[0]!.hostPath;
    expect(mountedAt(target)).toBe(true);
    await clearStaging(dataDir, (id) => id === 'host-dead', log);
    expect(mountedAt(target)).toBe(false);
    expect(existsSync(path.join(stagingBase(dataDir), 'host-dead'))).toBe(false);
    expect(readFileSync(path.join(root, 'shared', 'keep'), 'utf8')).toBe('host data');
  });
});
