import { lstat, mkdir, realpath, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.ts';
import { checkExtraMounts } from './check.ts';
import {
  ensureDir,
  globalDir,
  groupDir,
  groupsBase,
  isWithin,
  type Owner,
  sessionDir,
  sessionsBase,
} from './folders.ts';
import { resolveLoose } from './paths.ts';
import { findHidden, type HiddenPath, ProjectScanError, projectPatterns } from './project.ts';
import { type MountPlan, type PlanContext, type PlannedMount, WORKSPACE } from './types.ts';

const PROJECT = `${WORKSPACE}/project`;

export class MountPlanError extends AppError {
  override name = 'MountPlanError';
  constructor(
    code: 'MOUNT_PROJECT_MISSING' | 'MOUNT_PROJECT_PROTECTED' | 'MOUNT_PROJECT_UNCHECKED',
    message: string,
  ) {
    super(code, message);
  }
}

type Kind = 'dir' | 'file';

async function kindOf(p: string): Promise<Kind | undefined> {
  try {
    return (await stat(p)).isDirectory() ? 'dir' : 'file';
  } catch {
    // Absent (or unreadable): the caller treats the source as missing.
    return undefined;
  }
}

/** A read-only stand-in for a hidden path: /dev/null for files, an empty 0700 directory for directories. */
async function shadow(dataDir: string, containerPath: string, kind: Kind, source: PlannedMount['source']) {
  const hostPath = kind === 'dir' ? await ensureDir(dataDir, path.join(dataDir, 'empty')) : '/dev/null';
  return { hostPath, containerPath, readonly: true, source } satisfies PlannedMount;
}

/** The project root, read-only, with blocked names at any depth and protected paths inside it hidden. */
async function projectMounts(ctx: PlanContext): Promise<PlannedMount[]> {
  let root: string;
  try {
    root = await realpath(ctx.projectRoot);
  } catch {
    throw new MountPlanError('MOUNT_PROJECT_MISSING', `project root ${ctx.projectRoot} does not exist`);
  }
  const mounts: PlannedMount[] = [
    { hostPath: root, containerPath: PROJECT, readonly: true, source: 'project' },
  ];
  const protectedReal = await Promise.all(
    [ctx.dataDir, ctx.allowlistPath, ...(ctx.protectedPaths ?? [])].map(resolveLoose),
  );
  let hidden: HiddenPath[];
  try {
    hidden = await findHidden(root, await projectPatterns(ctx.allowlistPath, ctx.homeDir), protectedReal);
  } catch (err) {
    if (!(err instanceof ProjectScanError)) throw err;
    throw new MountPlanError(
      'MOUNT_PROJECT_UNCHECKED',
      `project root ${root} is not mounted: ${err.message}; point BERTH_PROJECT_ROOT at a smaller tree`,
    );
  }
  for (const h of hidden)
    mounts.push(await shadow(ctx.dataDir, `${PROJECT}/${h.rel}`, h.kind, 'secret-shadow'));
  for (const [i, p] of [ctx.dataDir, ctx.allowlistPath, ...(ctx.protectedPaths ?? [])].entries()) {
    const real = protectedReal[i]!;
    if (real === root || isWithin(real, root))
      throw new MountPlanError(
        'MOUNT_PROJECT_PROTECTED',
        `project root ${root} is or lies inside protected ${p}`,
      );
    const kind = isWithin(root, real) ? await kindOf(real) : undefined;
    if (kind) {
      const rel = path.relative(root, real).split(path.sep).join('/');
      mounts.push(await shadow(ctx.dataDir, `${PROJECT}/${rel}`, kind, 'protected-shadow'));
    }
  }
  return mounts;
}

/**
 * Makes each nested mountpoint inside the (container-writable) session dir a plain directory or file, so a
 * symlink left behind by an earlier run cannot redirect where the next run's mounts land.
 */
async function prepareMountpoint(sessionReal: string, containerPath: string, kind: Kind): Promise<void> {
  const parts = path.posix.relative(WORKSPACE, containerPath).split('/');
  let current = sessionReal;
  for (const [i, part] of parts.entries()) {
    current = path.join(current, part);
    const want: Kind = i === parts.length - 1 ? kind : 'dir';
    // Absent entries are created below; lstat errors other than that resurface when creating.
    const st = await lstat(current).catch(() => undefined);
    const have: Kind | undefined = !st || st.isSymbolicLink() ? undefined : st.isDirectory() ? 'dir' : 'file';
    if (st && have !== want) await rm(current, { recursive: true, force: true });
    if (have === want) continue;
    if (want === 'dir') await mkdir(current, { mode: 0o755 });
    else await writeFile(current, '', { flag: 'wx', mode: 0o644 });
  }
}

/**
 * Creates the session, group and global folders and returns every mount for one container run, in an order
 * where parents come before what is mounted inside them. Refused extra mounts are reported, not fatal.
 */
export async function planMounts(ctx: PlanContext): Promise<MountPlan> {
  const owner: Owner | undefined = ctx.owner;
  const session = await ensureDir(
    sessionsBase(ctx.dataDir),
    sessionDir(ctx.dataDir, ctx.groupId, ctx.sessionId),
    owner,
  );
  // Files the agent leaves here are attached to its turn's reply (src/files/outbox.ts). An outbox the agent
  // replaced (a symlink, a file) is its own loss: collection skips it, and the wake must still go on.
  await ensureDir(session, path.join(session, 'outbox'), owner).catch(() => undefined);
  const group = await ensureDir(groupsBase(ctx.dataDir), groupDir(ctx.dataDir, ctx.groupFolder), owner);
  const global = await ensureDir(ctx.dataDir, globalDir(ctx.dataDir), owner);
  const admin = ctx.trust === 'admin';
  const mounts: PlannedMount[] = [
    { hostPath: session, containerPath: WORKSPACE, readonly: false, source: 'session' },
    { hostPath: group, containerPath: `${WORKSPACE}/group`, readonly: false, source: 'group' },
    { hostPath: global, containerPath: `${WORKSPACE}/global`, readonly: !admin, source: 'global' },
  ];
  if (admin) mounts.push(...(await projectMounts(ctx)));
  const { accepted, refused } = await checkExtraMounts(ctx.extra, ctx);
  mounts.push(...accepted);
  for (const m of mounts) {
    if (m.containerPath === WORKSPACE || m.source === 'secret-shadow' || m.source === 'protected-shadow')
      continue;
    await prepareMountpoint(session, m.containerPath, (await kindOf(m.hostPath)) ?? 'dir');
  }
  return { mounts, refused };
}
