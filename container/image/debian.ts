import { createHash } from 'node:crypto';
import { appendFile, chown, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { execa } from 'execa';

export const DEBIAN_SUITE = 'bookworm';
export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
/** What the agent can use besides minbase: the list plus ps. */
export const DEBIAN_PACKAGES = [
  'bash',
  'coreutils',
  'git',
  'curl',
  'ca-certificates',
  'ripgrep',
  'python3',
  'jq',
  'procps',
] as const;
/** Bump when the post-processing below changes, so cached rootfs tarballs are rebuilt. */
const RECIPE_VERSION = 1;
export const AGENT_UID = 1000;

export class DebianRootfsError extends Error {
  override name = 'DebianRootfsError';
}

/** Where rootfs tarballs are kept between builds: $XDG_CACHE_HOME/berth or ~/.cache/berth. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_CACHE_HOME || path.join(env.HOME || homedir(), '.cache'), 'berth');
}

/** The content hash of the rootfs recipe: suite, mirror, packages and post-processing. */
export function debianHash(): string {
  return createHash('sha256')
    .update(JSON.stringify([DEBIAN_SUITE, DEBIAN_MIRROR, [...DEBIAN_PACKAGES], RECIPE_VERSION]))
    .digest('hex');
}

// Like Debian's slim images: later apt installs skip docs, man pages and translations too.
const DPKG_EXCLUDES = `path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
`;

/** Slims the tree and adds the agent user, its home and /workspace. Runs on the host, no chroot. */
async function finish(root: string): Promise<void> {
  const gone = ['var/cache/apt', 'var/lib/apt/lists', 'usr/share/doc', 'usr/share/man', 'usr/share/info'];
  for (const dir of gone) {
    await rm(path.join(root, dir), { recursive: true, force: true });
    await mkdir(path.join(root, dir), { recursive: true });
  }
  await mkdir(path.join(root, 'var/lib/apt/lists/partial'), { recursive: true });
  await mkdir(path.join(root, 'var/cache/apt/archives/partial'), { recursive: true });
  await writeFile(path.join(root, 'etc/dpkg/dpkg.cfg.d/berth-slim'), DPKG_EXCLUDES);
  await appendFile(
    path.join(root, 'etc/passwd'),
    `agent:x:${AGENT_UID}:${AGENT_UID}:agent:/home/agent:/bin/bash\n`,
  );
  await appendFile(path.join(root, 'etc/group'), `agent:x:${AGENT_UID}:\n`);
  await appendFile(path.join(root, 'etc/shadow'), 'agent:*:19700:0:99999:7:::\n');
  for (const dir of ['home/agent', 'workspace']) {
    await mkdir(path.join(root, dir), { recursive: true });
    await chown(path.join(root, dir), AGENT_UID, AGENT_UID);
  }
  await mkdir(path.join(root, 'opt/berth'), { recursive: true });
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

/**
 * The Debian rootfs tarball for the current recipe, from the cache or built with debootstrap
 * (minbase, Debian's own archive). The tarball is named by the recipe's hash, so a changed package
 * list builds a new one and an unchanged one is never rebuilt.
 */
export async function debianRootfs(
  log: (line: string) => void,
  dir = cacheDir(),
): Promise<{ tar: string; hash: string }> {
  const hash = debianHash();
  const tar = path.join(dir, `debian-${DEBIAN_SUITE}-${hash.slice(0, 16)}.tar`);
  if (await exists(tar)) return { tar, hash };
  if (process.getuid?.() !== 0)
    throw new DebianRootfsError(
      'building the Debian base needs root (debootstrap); run `npm run image` as root once, or use --registry',
    );
  const debootstrap = await execa('debootstrap', ['--version'], { reject: false, stdin: 'ignore' });
  if (debootstrap.failed)
    throw new DebianRootfsError('debootstrap is not installed: apt-get install -y debootstrap');
  await mkdir(dir, { recursive: true });
  const work = path.join(dir, `rootfs-${process.pid}-${Date.now()}`);
  const started = Date.now();
  log(`debootstrap ${DEBIAN_SUITE} (minbase + ${DEBIAN_PACKAGES.join(',')}) from ${DEBIAN_MIRROR}`);
  try {
    const args = [
      '--variant=minbase',
      `--include=${DEBIAN_PACKAGES.join(',')}`,
      DEBIAN_SUITE,
      work,
      DEBIAN_MIRROR,
    ];
    const proc = execa('debootstrap', args, { reject: false, all: true, stdin: 'ignore', buffer: false });
    const tail: string[] = [];
    let stage = '';
    for await (const line of proc.iterable({ from: 'all' })) {
      tail.push(line);
      if (tail.length > 30) tail.shift();
      // One progress line per stage (retrieving, extracting, configuring...), every warning and error.
      const verb = /^I: (\w+)/.exec(line)?.[1] ?? '';
      if (/^[EW]: /.test(line) || (verb && verb !== stage)) log(line);
      if (verb) stage = verb;
    }
    const res = await proc;
    if (res.exitCode !== 0) {
      const why = await readFile(path.join(work, 'debootstrap/debootstrap.log'), 'utf8').catch(() => '');
      throw new DebianRootfsError(
        `debootstrap failed (exit ${res.exitCode}):\n${why.slice(-2000) || tail.join('\n')}`,
      );
    }
    await finish(work);
    const tmp = `${tar}.${process.pid}.tmp`;
    // Device nodes, proc and sys come from the runtime; fixed owners by number keep uid 1000 as is.
    const tarArgs = ['--numeric-owner', '--sort=name', '--mtime=@1704067200', '--exclude=./dev/*'];
    tarArgs.push('--exclude=./proc/*', '--exclude=./sys/*', '-C', work, '-cf', tmp, '.');
    const packed = await execa('tar', tarArgs, { reject: false, all: true, stdin: 'ignore' });
    if (packed.exitCode !== 0) throw new DebianRootfsError(`tar failed: ${packed.all}`);
    await rename(tmp, tar);
    const size = (await stat(tar)).size;
    log(
      `debian rootfs ${Math.round(size / 1e6)} MB in ${Math.round((Date.now() - started) / 1000)} s → ${tar}`,
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { tar, hash };
}
