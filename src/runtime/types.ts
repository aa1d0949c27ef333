import type { Readable, Writable } from 'node:stream';
/** The container CLIs berth drives. */
export type RuntimeName = 'docker' | 'podman' | 'container';

export interface MountSpec {
  hostPath: string;
  containerPath: string;
  readonly: boolean;
}

export interface RunSpec {
  /** `^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$` */
  name: string;
  /** Local image reference; never pulled. */
  image: string;
  /** Overrides the image's CMD; empty or absent runs the image default. */
  command?: string[];
  labels: Record<string, string>;
  /** Written to a private env file (`--env-file`), never argv or the CLI's environment; see env.ts. */
  env: Record<string, string>;
  mounts: MountSpec[];
  /** "uid:gid" (or a user name). */
  user: string;
  memoryMb: number;
  cpus: number;
  pids: number;
  /** e.g. "bridge" or "slirp4netns:allow_host_loopback=true". */
  network?: string;
  /** Mount points, optionally with options: "/tmp" or "/tmp:rw,size=64m". */
  tmpfs: string[];
  workdir?: string;
  /** host name → IPv4/IPv6 address. */
  addHosts?: Record<string, string>;
}

export interface ContainerState {
  exists: boolean;
  running: boolean;
  /** null while running, never started, or when the runtime does not report it. */
  exitCode: number | null;
  /** The engine's own OOM flag. */
  oomKilled: boolean;
  /**
   * Exit 137 under a memory limit without the engine's flag: podman 4.3 on cgroups v1 never sets
   * OOMKilled. The caller knows whether it stopped or killed the container itself and decides.
   */
  oomSuspected: boolean;
  startedAt?: string;
  finishedAt?: string;
  labels: Record<string, string>;
}

export interface ContainerSummary {
  name: string;
  running: boolean;
  labels: Record<string, string>;
}

/** How the runtime CLI process of a `run` ended (not the container, though they usually agree). */
export interface CliExit {
  exitCode: number | null;
  signal: string | null;
  /** Set when the CLI could not be started at all (e.g. binary missing). */
  spawnError?: Error;
}

export interface RunningContainer {
  readonly name: string;
  /** PID of the runtime CLI process, not of the container. */
  readonly pid: number | undefined;
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly exited: Promise<CliExit>;
}

export interface BuildOptions {
  tag: string;
  /** Containerfile text; written to a private temp file outside the project. */
  containerfile: string;
  contextDir: string;
  labels?: Record<string, string>;
  /** `--build-arg NAME=value` pairs for the Containerfile's ARG lines. */
  buildArgs?: Record<string, string>;
  /** Fetch a FROM image that is missing locally; default false (podman gets --pull=never). */
  pullMissing?: boolean;
  signal?: AbortSignal;
}

export interface BuildLine {
  stream: 'stdout' | 'stderr';
  line: string;
}

/** Iterate for output lines; `done` rejects with RuntimeCommandError when the build fails. */
export interface BuildProcess extends AsyncIterable<BuildLine> {
  readonly done: Promise<{ imageId: string | undefined }>;
}

export interface ContainerRuntime {
  readonly name: RuntimeName;
  readonly binary: string;
  /** `envFile`: the path `--env-file` names (run() writes it). */
  runArgs(spec: RunSpec, envFile?: string): string[];
  run(spec: RunSpec): RunningContainer;
  stop(name: string, graceSeconds: number): Promise<void>;
  kill(name: string): Promise<void>;
  inspect(name: string): Promise<ContainerState>;
  remove(name: string): Promise<void>;
  list(labels: Record<string, string>): Promise<ContainerSummary[]>;
  imageId(tag: string): Promise<string | undefined>;
  /** The image's labels; undefined when the image does not exist. */
  imageLabels(tag: string): Promise<Record<string, string> | undefined>;
  build(opts: BuildOptions): BuildProcess;
  removeImage(tag: string): Promise<void>;
  /** Imports a root filesystem tarball (absolute path) as image `tag`. */
  importImage(tarPath: string, tag: string): Promise<void>;
  /** Gives the image `source` (a reference or id) the extra tag `target`. */
  tagImage(source: string, target: string): Promise<void>;
  /** Ids of the local images carrying label `name=value`, without duplicates. */
  imagesWithLabel(name: string, value: string): Promise<string[]>;
  /** Size in bytes; undefined when the image does not exist or the runtime does not report it. */
  imageSize(tag: string): Promise<number | undefined>;
  bridgeGateway(): Promise<string | undefined>;
  version(): Promise<string>;
}
