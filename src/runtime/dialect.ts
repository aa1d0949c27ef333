import { InvalidRunSpecError } from './errors.ts';
import type { ContainerState, ContainerSummary, RunSpec, RuntimeName } from './types.ts';

export interface GatewayInfo {
  gateway: string | undefined;
  subnet: string | undefined;
  /** Host interface of the bridge, when the runtime names it. */
  iface: string | undefined;
}

/** `--label k=v` pairs in a stable order; every supported CLI spells labels this way. */
export function labelArgs(labels: Record<string, string>): string[] {
  return Object.keys(labels)
    .sort()
    .flatMap((key) => ['--label', `${key}=${labels[key]}`]);
}

/** `--env-file FILE` when the spec has variables: values and names stay out of argv and the CLI's environment. */
export function envFileArgs(spec: RunSpec, envFile: string | undefined): string[] {
  if (Object.keys(spec.env).length === 0) return [];
  if (!envFile) throw new InvalidRunSpecError('a run with environment variables needs an env file');
  return ['--env-file', envFile];
}

export interface BuildArgsOptions {
  tag: string;
  file: string;
  contextDir: string;
  labels: Record<string, string>;
  buildArgs?: Record<string, string>;
  pullMissing?: boolean;
}

/** `--build-arg NAME=value` pairs in a stable order. */
export function buildArgArgs(args: Record<string, string> = {}): string[] {
  return Object.keys(args)
    .sort()
    .flatMap((key) => ['--build-arg', `${key}=${args[key]}`]);
}

/** `build [flags] -t TAG -f FILE --label … CONTEXT`: the shape all three CLIs share. */
export function buildArgsWith(noPullFlags: string[] = []): (opts: BuildArgsOptions) => string[] {
  return ({ tag, file, contextDir, labels, buildArgs, pullMissing }) => [
    'build',
    ...(pullMissing ? [] : noPullFlags),
    '-t',
    tag,
    '-f',
    file,
    ...labelArgs(labels),
    ...buildArgArgs(buildArgs),
    contextDir,
  ];
}

/** Everything that differs between runtime CLIs: argument shapes and output parsing. Pure. */
export interface Dialect {
  readonly name: RuntimeName;
  readonly defaultBinary: string;
  /** `envFile`: where the caller wrote envFileText(spec.env). */
  runArgs(spec: RunSpec, envFile: string | undefined): string[];
  stopArgs(name: string, graceSeconds: number): string[];
  killArgs(name: string): string[];
  removeArgs(name: string): string[];
  inspectArgs(name: string): string[];
  /** undefined when the output holds no container. */
  parseInspect(stdout: string): ContainerState | undefined;
  listArgs(labels: Record<string, string>): string[];
  /** May return more than asked for; the caller filters by label again. */
  parseList(stdout: string): ContainerSummary[];
  imageIdArgs(tag: string): string[];
  parseImageId(stdout: string): string | undefined;
  imageLabelsArgs(tag: string): string[];
  parseImageLabels(stdout: string): Record<string, string>;
  buildArgs(opts: BuildArgsOptions): string[];
  readonly buildEnv: Record<string, string>;
  removeImageArgs(tag: string): string[];
  /** undefined: the CLI cannot import a root filesystem tarball. */
  readonly importArgs: ((tarPath: string, tag: string) => string[]) | undefined;
  tagArgs(source: string, target: string): string[];
  /** undefined: the CLI cannot list images by label. */
  readonly imagesWithLabelArgs: ((name: string, value: string) => string[]) | undefined;
  parseImageIds(stdout: string): string[];
  /** undefined: the CLI does not report image sizes. */
  readonly imageSizeArgs: ((tag: string) => string[]) | undefined;
  parseImageSize(stdout: string): number | undefined;
  readonly versionArgs: string[];
  parseVersion(stdout: string): string;
  /** undefined: the runtime has no bridge gateway to bind to (Apple's VMs reach the host differently). */
  readonly gatewayArgs: string[] | undefined;
  parseGateway(stdout: string): GatewayInfo;
  isNotFound(stderr: string): boolean;
  isNotRunning(stderr: string): boolean;
}
