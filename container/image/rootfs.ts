import { execFileSync } from 'node:child_process';
import { existsSync, realpathSync, statSync } from 'node:fs';
import type { Entry } from './tar.ts';

export const AGENT_UID = 1000;
export const NODE_PATH = '/usr/local/bin/node';
export const RUNNER_PATH = '/opt/berth/runner.js';

export class RootfsError extends Error {
  override name = 'RootfsError';
  constructor(
    readonly code: 'BUSYBOX_MISSING' | 'BUSYBOX_DYNAMIC' | 'LDD_FAILED',
    message: string,
  ) {
    super(message);
  }
}

/** The shared libraries and dynamic loader `ldd` lists for a binary, as absolute paths. */
export function sharedLibraries(binary: string): string[] {
  let out: string;
  try {
    out = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new RootfsError('LDD_FAILED', `ldd ${binary} failed: ${(err as Error).message}`);
  }
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    if (line.includes('not found'))
      throw new RootfsError('LDD_FAILED', `${binary} needs a missing library: ${line.trim()}`);
    const m = /=>\s+(\/\S+)\s+\(/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

function isStatic(binary: string): boolean {
  try {
    const out = execFileSync('ldd', [binary], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return /not a dynamic executable|statically linked/.test(out);
  } catch (err) {
    // glibc's ldd exits 1 for static binaries and says so on stdout/stderr.
    const e = err as { stdout?: string; stderr?: string };
    return /not a dynamic executable|statically linked/.test(`${e.stdout}${e.stderr}`);
  }
}

export function findBusybox(candidates = ['/bin/busybox', '/usr/bin/busybox']): string {
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new RootfsError('BUSYBOX_MISSING', 'no busybox found: apt-get install busybox-static');
  if (!isStatic(found))
    throw new RootfsError(
      'BUSYBOX_DYNAMIC',
      `${found} is dynamically linked: apt-get install busybox-static`,
    );
  return found;
}

function applets(busybox: string): string[] {
  return execFileSync(busybox, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => /^[a-z0-9_.[-]+$/.test(s) && s !== 'busybox');
}

const PASSWD = `root:x:0:0:root:/root:/bin/sh\nagent:x:${AGENT_UID}:${AGENT_UID}:agent:/home/agent:/bin/sh\n`;
const GROUP = `root:x:0:\nagent:x:${AGENT_UID}:\n`;

export interface RootfsInputs {
  node: string;
  busybox: string;
  runnerJs: string;
}

/** Every entry of the offline image's filesystem, parents before children. */
export function rootfsEntries(inputs: RootfsInputs): Entry[] {
  const dirs = new Set<string>();
  const entries: Entry[] = [];
  const dir = (path: string, mode = 0o755, uid = 0): void => {
    const parts = path.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = `/${parts.slice(0, i).join('/')}`;
      if (dirs.has(p)) continue;
      dirs.add(p);
      const own = i === parts.length ? uid : 0;
      entries.push({ type: 'dir', path: p, mode: i === parts.length ? mode : 0o755, uid: own, gid: own });
    }
  };
  const parent = (path: string): void => dir(path.slice(0, path.lastIndexOf('/')) || '/');
  const file = (path: string, source: string): void => {
    parent(path);
    entries.push({ type: 'file', path, source: realpathSync(source), mode: statSync(source).mode & 0o755 });
  };
  const data = (path: string, content: string): void => {
    parent(path);
    entries.push({ type: 'data', path, content, mode: 0o644 });
  };

  for (const d of ['/dev', '/proc', '/sys', '/etc', '/root']) dir(d, d === '/root' ? 0o700 : 0o755);
  dir('/tmp', 0o1777);
  dir('/workspace', 0o755, AGENT_UID);
  dir('/home/agent', 0o755, AGENT_UID);
  file('/bin/busybox', inputs.busybox);
  for (const name of applets(inputs.busybox))
    if (name !== 'sh') entries.push({ type: 'symlink', path: `/bin/${name}`, target: 'busybox' });
  entries.push({ type: 'symlink', path: '/bin/sh', target: 'busybox' });
  // Scripts with `#!/usr/bin/env ...` shebangs expect env here.
  dir('/usr/bin');
  entries.push({ type: 'symlink', path: '/usr/bin/env', target: '/bin/busybox' });
  file(NODE_PATH, inputs.node);
  for (const lib of sharedLibraries(inputs.node)) file(lib, lib);
  parent(RUNNER_PATH);
  entries.push({ type: 'file', path: RUNNER_PATH, source: inputs.runnerJs, mode: 0o644 });
  data('/etc/passwd', PASSWD);
  data('/etc/group', GROUP);
  data('/etc/nsswitch.conf', 'passwd: files\ngroup: files\nhosts: files dns\n');
  return entries;
}
