/**
 * The container runtime layer: the only module that runs container commands. One CliRuntime
 * executes argument arrays through execa; a Dialect per CLI (docker, podman, Apple `container`)
 * builds those arrays and normalises their JSON, in the spirit of testcontainers' runtime
 * strategies.
 */

import { apple } from './apple.ts';
import { CliRuntime, type CliRuntimeOptions } from './cli.ts';
import { FALLBACK_PATH, locateRuntime } from './detect.ts';
import type { Dialect } from './dialect.ts';
import { docker, podman } from './oci.ts';
import type { ContainerRuntime, RuntimeName } from './types.ts';

export type { CliRuntimeOptions } from './cli.ts';
export { findOnPath } from './detect.ts';
export { envFileText, REFUSED_ENV_NAMES, REFUSED_ENV_PREFIXES, refusedEnvName } from './env.ts';
export {
  InvalidRunSpecError,
  RuntimeCommandError,
  RuntimeError,
  type RuntimeErrorCode,
  RuntimeMissingError,
} from './errors.ts';
export { LineSplitter, onLines } from './lines.ts';
export { oomKillCount } from './oom.ts';
export type * from './types.ts';

const dialects: Record<RuntimeName, Dialect> = { docker, podman, container: apple };

export function createRuntime(name: RuntimeName, opts: CliRuntimeOptions = {}): ContainerRuntime {
  return new CliRuntime(dialects[name], opts);
}

export interface DetectOptions extends Omit<CliRuntimeOptions, 'binary'> {
  /** PATH to search; defaults to a standard system PATH. */
  pathEnv?: string;
  platform?: NodeJS.Platform;
}

/** `auto` tries podman, then docker, then (macOS) Apple's container; throws RuntimeMissingError naming what to install. */
export async function detectRuntime(
  choice: 'auto' | RuntimeName,
  opts: DetectOptions = {},
): Promise<ContainerRuntime> {
  const { pathEnv = FALLBACK_PATH, platform, ...cli } = opts;
  const found = await locateRuntime(choice, pathEnv, platform);
  return createRuntime(found.name, { ...cli, binary: found.binary });
}
