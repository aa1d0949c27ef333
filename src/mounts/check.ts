import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { type AllowedRoot, type Allowlist, loadAllowlist } from './allowlist.ts';
import { isWithin } from './folders.ts';
import {
  components,
  containerPathProblem,
  containerPathsOverlap,
  expandHome,
  MAX_HOST_PATH,
  resolveLoose,
} from './paths.ts';
import { matchBlocked } from './patterns.ts';
import {
  type CheckContext,
  type CheckResult,
  EXTRA_MOUNT_BASE,
  type ExtraMountRequest,
  type MountRefusal,
  type MountRefusalCode,
  type PlannedMount,
} from './types.ts';

class Refused extends Error {
  constructor(
    readonly code: MountRefusalCode,
    message: string,
  ) {
    super(message);
  }
}

interface Protected {
  label: string;
  paths: string[];
}

/** Paths no extra mount may equal, sit inside or contain; both the written and the resolved form count. */
async function protectedPaths(ctx: CheckContext): Promise<Protected[]> {
  const entries: Array<[string, string]> = [
    ['the data directory', ctx.dataDir],
    ['the mount allowlist', ctx.allowlistPath],
    ...(ctx.protectedPaths ?? []).map((p): [string, string] => ['a protected path', p]),
  ];
  return Promise.all(
    entries.map(async ([label, p]) => ({ label, paths: [path.resolve(p), await resolveLoose(p)] })),
  );
}

async function resolveHost(hostPath: string, homeDir: string): Promise<{ lexical: string; real: string }> {
  if (typeof hostPath !== 'string' || hostPath === '')
    throw new Refused('MOUNT_BAD_HOST_PATH', 'hostPath is empty');
  if (hostPath.includes('\0')) throw new Refused('MOUNT_BAD_HOST_PATH', 'hostPath contains a NUL byte');
  if (hostPath.length > MAX_HOST_PATH)
    throw new Refused('MOUNT_BAD_HOST_PATH', `hostPath is longer than ${MAX_HOST_PATH} characters`);
  const expanded = expandHome(hostPath, homeDir);
  if (expanded === undefined || !path.isAbsolute(expanded))
    throw new Refused('MOUNT_BAD_HOST_PATH', 'hostPath must be absolute or start with ~/');
  let real: string;
  try {
    real = await realpath(expanded);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new Refused('MOUNT_PATH_MISSING', 'does not exist on the host');
    throw new Refused('MOUNT_BAD_HOST_PATH', `cannot be resolved (${code ?? 'error'})`);
  }
  const st = await stat(real);
  // Sockets and devices (a runtime socket above all) are never mountable.
  if (!st.isDirectory() && !st.isFile())
    throw new Refused('MOUNT_BAD_HOST_PATH', 'is neither a directory nor a regular file');
  return { lexical: path.resolve(expanded), real };
}

function defaultName(hostPath: string): string {
  return path.basename(hostPath.replace(/\/+$/, ''));
}

function checkName(req: ExtraMountRequest): string {
  const explicit = req.containerPath !== undefined;
  if (explicit && typeof req.containerPath !== 'string')
    throw new Refused('MOUNT_BAD_CONTAINER_PATH', 'containerPath must be a string');
  const name = explicit ? (req.containerPath as string) : defaultName(req.hostPath);
  const problem = containerPathProblem(name);
  if (problem === undefined) return name;
  const hint = explicit ? '' : ' (it defaults to the host path basename; set containerPath)';
  throw new Refused('MOUNT_BAD_CONTAINER_PATH', `container path ${quote(name)} ${problem}${hint}`);
}

function checkProtected(real: string, prot: Protected[], homeReal: string): void {
  for (const { label, paths } of prot) {
    for (const p of paths) {
      if (p === real) throw new Refused('MOUNT_PROTECTED_PATH', `it is ${label}`);
      if (isWithin(p, real)) throw new Refused('MOUNT_PROTECTED_PATH', `it is inside ${label}`);
      if (isWithin(real, p)) throw new Refused('MOUNT_PROTECTED_PATH', `it contains ${label}`);
    }
  }
  // A whole home directory carries its keys and dotfiles along; a filesystem root would be no better.
  if (homeReal !== path.parse(homeReal).root && isWithin(real, homeReal))
    throw new Refused('MOUNT_PROTECTED_PATH', 'it is or contains the home directory');
}

/** The most specific allowed root containing the path, so a narrower read-only root wins over a wider one. */
function findRoot(real: string, roots: AllowedRoot[]): AllowedRoot | undefined {
  let best: AllowedRoot | undefined;
  for (const root of roots) {
    if (root.realPath === undefined || !isWithin(root.realPath, real)) continue;
    if (!best || root.realPath.length > (best.realPath as string).length) best = root;
  }
  return best;
}

function checkReadonly(req: ExtraMountRequest, root: AllowedRoot, ctx: CheckContext): boolean {
  if (req.readonly !== undefined && typeof req.readonly !== 'boolean')
    throw new Refused('MOUNT_BAD_REQUEST', 'readonly must be a boolean');
  if (req.readonly !== false) return true;
  if (ctx.trust !== 'admin')
    throw new Refused(
      'MOUNT_RW_DENIED',
      'member groups get read-only extra mounts only; drop "readonly": false',
    );
  if (!root.allowReadWrite)
    throw new Refused(
      'MOUNT_RW_DENIED',
      `allowed root ${root.path} is read-only (allowReadWrite is not true)`,
    );
  return false;
}

async function checkOne(
  req: ExtraMountRequest,
  list: Allowlist,
  ctx: CheckContext,
  prot: Protected[],
  homeReal: string,
  accepted: PlannedMount[],
): Promise<PlannedMount> {
  if (typeof req !== 'object' || req === null)
    throw new Refused('MOUNT_BAD_REQUEST', 'mount must be an object');
  const { lexical, real } = await resolveHost(req.hostPath, ctx.homeDir);
  const name = checkName(req);
  checkProtected(real, prot, homeReal);
  const blocked =
    matchBlocked(components(real), list.blocked) ?? matchBlocked(components(lexical), list.blocked);
  if (blocked !== undefined)
    throw new Refused(
      'MOUNT_BLOCKED_PATTERN',
      `resolves to ${real}, which matches blocked pattern "${blocked}"`,
    );
  const root = findRoot(real, list.roots);
  if (!root)
    throw new Refused(
      'MOUNT_NOT_ALLOWED_ROOT',
      `resolves to ${real}, which is not under any allowed root in ${list.file}`,
    );
  const outer = ctx.refuseInsideWritable
    ? list.roots.find(
        (r) =>
          r.allowReadWrite && r.realPath !== undefined && r.realPath !== real && isWithin(r.realPath, real),
      )
    : undefined;
  if (outer)
    throw new Refused(
      'MOUNT_INSIDE_WRITABLE',
      `lies inside ${outer.path}, which containers may write to; berth (not running as root) cannot pin it against a swap, so mount that root instead`,
    );
  const readonly = checkReadonly(req, root, ctx);
  const containerPath = path.posix.join(EXTRA_MOUNT_BASE, name);
  const clash = accepted.find((m) => containerPathsOverlap(m.containerPath, containerPath));
  if (clash)
    throw new Refused('MOUNT_COLLISION', `container path ${containerPath} overlaps ${clash.containerPath}`);
  return { hostPath: real, containerPath, readonly, source: 'extra' };
}

function quote(text: string): string {
  return JSON.stringify(text.length > 120 ? `${text.slice(0, 117)}...` : text);
}

/** The requested path as quoted in a reason: escaped and shortened, since it is untrusted input. */
function shown(hostPath: unknown): string {
  return typeof hostPath !== 'string' || hostPath === '' ? 'mount' : quote(hostPath);
}

function refusal(
  index: number,
  req: ExtraMountRequest,
  code: MountRefusalCode,
  reason: string,
): MountRefusal {
  const hostPath = typeof req?.hostPath === 'string' ? req.hostPath : String(req?.hostPath);
  const containerPath = typeof req?.containerPath === 'string' ? req.containerPath : undefined;
  return { index, hostPath, ...(containerPath === undefined ? {} : { containerPath }), code, reason };
}

/** Validates requested extra mounts against the allowlist; every request is either accepted or refused with a reason. */
export async function checkExtraMounts(
  requests: ExtraMountRequest[],
  ctx: CheckContext,
): Promise<CheckResult> {
  const accepted: PlannedMount[] = [];
  const refused: MountRefusal[] = [];
  if (requests.length === 0) return { accepted, refused };
  const loaded = await loadAllowlist(ctx.allowlistPath, ctx.homeDir);
  if (!loaded.ok) {
    return { accepted, refused: requests.map((r, i) => refusal(i, r, loaded.code, loaded.reason)) };
  }
  const prot = await protectedPaths(ctx);
  const homeReal = await resolveLoose(ctx.homeDir);
  for (const [index, req] of requests.entries()) {
    try {
      accepted.push(await checkOne(req, loaded.allowlist, ctx, prot, homeReal, accepted));
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      refused.push(refusal(index, req, err.code, `${shown(req?.hostPath)}: ${err.message}`));
    }
  }
  return { accepted, refused };
}
