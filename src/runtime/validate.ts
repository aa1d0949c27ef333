import { isIP } from 'node:net';
import path from 'node:path';
import { InvalidRunSpecError } from './errors.ts';
import type { MountSpec, RunSpec } from './types.ts';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const HOST_LABEL = '[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?';
// As in docker's reference grammar, a registry host has a dot or a port, or is localhost.
const DOMAIN = `(?:(?:(?:localhost|${HOST_LABEL}(?:\\.${HOST_LABEL})+)(?::[0-9]{1,5})?|${HOST_LABEL}:[0-9]{1,5})/)`;
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const IMAGE = new RegExp(
  `^${DOMAIN}?${COMPONENT}(?:/${COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`,
);
const IMAGE_ID = /^(?:sha256:)?[a-f0-9]{12,64}$/;
const LABEL_KEY = /^[a-zA-Z0-9][a-zA-Z0-9._/-]{0,127}$/;
// Commas are refused because docker's `ps` prints labels as one "k=v,k=v" string.
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
const LABEL_VALUE = /^[^\u0000-\u001f\u007f,]{0,1024}$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;
const USER_PART = '(?:[0-9]{1,10}|[a-z_][a-z0-9_-]{0,31})';
const USER = new RegExp(`^${USER_PART}(?::${USER_PART})?$`);
const NETWORK = /^[a-zA-Z0-9][a-zA-Z0-9_.:=,-]{0,254}$/;
const TMPFS_OPTIONS = /^[a-z0-9_=.,-]{1,200}$/;
const HOST_NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9.-]{0,252}[a-zA-Z0-9])?$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f]/;

function fail(message: string): never {
  throw new InvalidRunSpecError(message);
}

export function assertContainerName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name))
    fail(`container name must match ${NAME.source}, got ${JSON.stringify(name)}`);
}

export function assertImageRef(ref: string): void {
  if (typeof ref !== 'string' || ref.length > 255 || !(IMAGE.test(ref) || IMAGE_ID.test(ref)))
    fail(`image must be a plain image reference (e.g. "berth-agent:latest"), got ${JSON.stringify(ref)}`);
}

export function assertLabels(labels: Record<string, string>): void {
  for (const [key, value] of Object.entries(labels)) {
    if (!LABEL_KEY.test(key)) fail(`label key must match ${LABEL_KEY.source}, got ${JSON.stringify(key)}`);
    if (typeof value !== 'string' || !LABEL_VALUE.test(value))
      fail(`label ${key} must be at most 1024 printable characters without commas`);
  }
}

function assertEnv(env: Record<string, string>): void {
  for (const [key, value] of Object.entries(env)) {
    if (!ENV_KEY.test(key))
      fail(`environment variable name must match ${ENV_KEY.source}, got ${JSON.stringify(key)}`);
    // An env file holds one variable per line: a line break would smuggle in another variable.
    if (typeof value !== 'string' || ['\u0000', '\r', '\n'].some((c) => value.includes(c)))
      fail(`environment variable ${key} must be a string without NUL or line breaks`);
  }
}

/** Absolute, normalised, and free of characters that the runtimes' `--mount` CSV syntax would misread. */
function assertPath(what: string, p: string, allowColon: boolean): void {
  if (typeof p !== 'string' || !p.startsWith('/') || p.length > 4096)
    fail(`${what} must be an absolute path, got ${JSON.stringify(p)}`);
  if (CONTROL.test(p) || /[,"]/.test(p) || (!allowColon && p.includes(':')))
    fail(
      `${what} must not contain control characters, commas, quotes${allowColon ? '' : ' or colons'}: ${JSON.stringify(p)}`,
    );
  if (path.posix.normalize(p) !== p)
    fail(`${what} must be a normalised path without "..": ${JSON.stringify(p)}`);
}

/** A host file the CLI reads (e.g. a tarball to import): absolute, normalised, no control characters. */
export function assertHostFile(what: string, p: string): void {
  assertPath(what, p, true);
}

export function assertBuildArgs(args: Record<string, string>): void {
  for (const [key, value] of Object.entries(args)) {
    if (!ENV_KEY.test(key))
      fail(`build argument name must match ${ENV_KEY.source}, got ${JSON.stringify(key)}`);
    if (typeof value !== 'string' || CONTROL.test(value))
      fail(`build argument ${key} must be a string without control characters`);
  }
}

function assertMount(mount: MountSpec): void {
  assertPath('mount host path', mount.hostPath, true);
  assertPath('mount container path', mount.containerPath, false);
  if (typeof mount.readonly !== 'boolean') fail(`mount ${mount.containerPath} needs readonly: true | false`);
}

export function splitTmpfs(entry: string): { path: string; options: string | undefined } {
  const at = entry.indexOf(':');
  const mountPoint = at === -1 ? entry : entry.slice(0, at);
  const options = at === -1 ? undefined : entry.slice(at + 1);
  assertPath('tmpfs path', mountPoint, false);
  if (options !== undefined && !TMPFS_OPTIONS.test(options))
    fail(`tmpfs options must match ${TMPFS_OPTIONS.source}, got ${JSON.stringify(options)}`);
  return { path: mountPoint, options };
}

export function assertRunSpec(spec: RunSpec): void {
  assertContainerName(spec.name);
  assertImageRef(spec.image);
  assertLabels(spec.labels);
  assertEnv(spec.env);
  for (const mount of spec.mounts) assertMount(mount);
  for (const entry of spec.tmpfs) splitTmpfs(entry);
  if (!USER.test(spec.user))
    fail(`user must be "uid:gid" (or a user name), got ${JSON.stringify(spec.user)}`);
  if (!Number.isInteger(spec.memoryMb) || spec.memoryMb < 6 || spec.memoryMb > 1_048_576)
    fail(`memoryMb must be a whole number from 6 to 1048576, got ${spec.memoryMb}`);
  if (!Number.isFinite(spec.cpus) || spec.cpus < 0.01 || spec.cpus > 1024)
    fail(`cpus must be a number from 0.01 to 1024, got ${spec.cpus}`);
  if (!Number.isInteger(spec.pids) || spec.pids < 1 || spec.pids > 4_194_304)
    fail(`pids must be a whole number from 1 to 4194304, got ${spec.pids}`);
  if (spec.network !== undefined && !NETWORK.test(spec.network))
    fail(`network must match ${NETWORK.source}, got ${JSON.stringify(spec.network)}`);
  if (spec.workdir !== undefined) assertPath('workdir', spec.workdir, false);
  for (const [host, ip] of Object.entries(spec.addHosts ?? {})) {
    if (!HOST_NAME.test(host)) fail(`extra host name must be a DNS name, got ${JSON.stringify(host)}`);
    if (isIP(ip) === 0) fail(`extra host ${host} needs an IP address, got ${JSON.stringify(ip)}`);
  }
  for (const arg of spec.command ?? []) {
    if (typeof arg !== 'string' || arg.includes('\u0000'))
      fail('command arguments must be strings without NUL');
  }
}
