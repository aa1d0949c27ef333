/**
 * Container environment: every variable is written to a private env file passed with `--env-file`,
 * so values never appear in argv and never enter the runtime CLI's own environment, where names
 * like `_CONTAINERS_USERNS_CONFIGURED` or `NOTIFY_SOCKET` would change what the CLI (and the
 * root-owned conmon it starts) does.
 */

/** Name prefixes a group may not set: read by the runtimes, the dynamic loader, Node, or berth and its agent. */
export const REFUSED_ENV_PREFIXES = [
  'BERTH_',
  'ANTHROPIC_',
  'CLAUDE_',
  '_CONTAINERS_',
  'CONTAINERS_',
  'CONTAINER_',
  'DOCKER_',
  'PODMAN_',
  'BUILDAH_',
  'STORAGE_',
  'REGISTRY_',
  'LD_',
  'DYLD_',
  'NODE_',
  'NPM_CONFIG_',
  'XDG_',
] as const;

/** Whole names a group may not set: systemd activation (honoured by podman/conmon), process basics berth sets, proxies. */
export const REFUSED_ENV_NAMES = [
  'NOTIFY_SOCKET',
  'LISTEN_FDS',
  'LISTEN_PID',
  'LISTEN_FDNAMES',
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'HOSTNAME',
  'TMPDIR',
  'TZ',
  'DISABLE_TELEMETRY',
  'DISABLE_ERROR_REPORTING',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'ALL_PROXY',
  'NO_PROXY',
  'FTP_PROXY',
] as const;

/** Why a group may not set `name` (compared case-insensitively), or undefined when it may. */
export function refusedEnvName(name: string): string | undefined {
  const upper = name.toUpperCase();
  const prefix = REFUSED_ENV_PREFIXES.find((p) => upper.startsWith(p));
  if (prefix)
    return `names starting with ${prefix} are reserved for the container runtime, the loader or berth`;
  if ((REFUSED_ENV_NAMES as readonly string[]).includes(upper))
    return `${upper} is read by the container runtime, the loader or berth`;
  return undefined;
}

/**
 * The env file's text: one `KEY=VALUE` line each, in key order. docker and podman take the rest of
 * the line verbatim, so values must not hold line breaks (validate.ts refuses them).
 */
export function envFileText(env: Record<string, string>): string {
  return Object.keys(env)
    .sort()
    .map((key) => `${key}=${env[key]}\n`)
    .join('');
}
