/**
 * Container environment without values in argv: each variable becomes `--env KEY` and its value
 * travels in the runtime CLI's own environment, which docker, podman and Apple's `container` copy
 * into the container. `ps` and /proc/<cli>/cmdline therefore never show per-run tokens.
 *
 * Names the CLI itself reads (PATH, HOME, proxies, DOCKER_*, CONTAINERS_* …) would change how the
 * CLI behaves if overridden, so those few go inline as `--env KEY=VALUE`; they are configuration,
 * not secrets.
 */
const CLI_NAMES = new Set([
  'PATH',
  'HOME',
  'USER',
  'TMPDIR',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'REGISTRY_AUTH_FILE',
]);
const CLI_PREFIXES = [
  'DOCKER_',
  'CONTAINER_',
  'CONTAINERS_',
  'PODMAN_',
  'BUILDAH_',
  'STORAGE_',
  'XDG_',
  'LD_',
  'DYLD_',
  'LC_',
];
const PROXY = /^(?:https?|all|no|ftp)_proxy$/i;

function readByCli(key: string): boolean {
  return CLI_NAMES.has(key) || PROXY.test(key) || CLI_PREFIXES.some((p) => key.startsWith(p));
}

export interface EnvPlan {
  /** `--env` arguments, in key order. */
  args: string[];
  /** Variables to add to the CLI process environment. */
  childEnv: Record<string, string>;
}

export function planEnv(env: Record<string, string>): EnvPlan {
  const args: string[] = [];
  const childEnv: Record<string, string> = {};
  for (const key of Object.keys(env).sort()) {
    const value = env[key] as string;
    if (readByCli(key)) {
      args.push('--env', `${key}=${value}`);
    } else {
      args.push('--env', key);
      childEnv[key] = value;
    }
  }
  return { args, childEnv };
}
