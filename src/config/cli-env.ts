import type { Env } from './parse.ts';

/**
 * Variables passed through to runtime CLIs (docker, podman, container) and npm: where the engine
 * is and how the user's CLI is configured. Tokens, keys and DATABASE_URL are never among them.
 */
export const CLI_ENV_NAMES = [
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'LC_ALL',
  'TMPDIR',
  'XDG_RUNTIME_DIR',
  'XDG_CONFIG_HOME',
  'XDG_DATA_HOME',
  'DOCKER_HOST',
  'DOCKER_CONTEXT',
  'DOCKER_CONFIG',
  'DOCKER_CERT_PATH',
  'DOCKER_TLS_VERIFY',
  'CONTAINER_HOST',
  'CONTAINER_CONNECTION',
  'CONTAINERS_CONF',
  'CONTAINERS_REGISTRIES_CONF',
  'CONTAINERS_STORAGE_CONF',
  'REGISTRY_AUTH_FILE',
  // TLS trust for registries behind an intercepting proxy (npm reads the first, the runtimes the others).
  'NODE_EXTRA_CA_CERTS',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
] as const;

export function cliEnv(env: Env, searchPath: string): Record<string, string> {
  const out: Record<string, string> = { PATH: searchPath };
  for (const name of CLI_ENV_NAMES) {
    const value = env[name];
    if (value !== undefined && value !== '') out[name] = value;
  }
  return out;
}

/**
 * Variables of the `berth` command-line client (read by src/cli/config.ts alone). The service accepts
 * and ignores them, so one shell can both run berth and talk to it.
 */
export const CLIENT_ENV_NAMES = ['BERTH_URL', 'BERTH_TOKEN'] as const;
