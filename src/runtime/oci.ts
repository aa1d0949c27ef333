import { buildArgsWith, type Dialect, envFileArgs, labelArgs } from './dialect.ts';
import { parseJson, parseJsonLines, parseLabelString, pickState, record, str } from './parse.ts';
import type { ContainerSummary, RunSpec } from './types.ts';
import { assertRunSpec, splitTmpfs } from './validate.ts';

/** Options every docker/podman tmpfs gets unless the entry names its own; docker alone would add noexec. */
const TMPFS_DEFAULTS = 'rw,exec,nosuid,nodev,mode=1777';

function formatCpus(cpus: number): string {
  return String(Math.round(cpus * 1000) / 1000);
}

/** docker and podman share the run syntax; differences are in output shapes and a few flags. */
function ociRunArgs(spec: RunSpec, envFile: string | undefined): string[] {
  assertRunSpec(spec);
  const memory = `${spec.memoryMb}m`;
  const args = [
    'run',
    '-i',
    '--name',
    spec.name,
    ...labelArgs(spec.labels),
    '--pull=never',
    '--cap-drop=ALL',
    '--security-opt=no-new-privileges',
    '--read-only',
    // stdout/stderr reach berth through the attached CLI; engine-side logs would only grow on disk.
    '--log-driver=none',
    '--user',
    spec.user,
    '--memory',
    memory,
    // Equal to --memory: no swap, so a runaway agent hits the OOM killer instead of thrashing.
    '--memory-swap',
    memory,
    '--cpus',
    formatCpus(spec.cpus),
    '--pids-limit',
    String(spec.pids),
  ];
  if (spec.network !== undefined) args.push('--network', spec.network);
  for (const entry of spec.tmpfs) {
    const { path, options } = splitTmpfs(entry);
    args.push('--tmpfs', `${path}:${options ?? TMPFS_DEFAULTS}`);
  }
  for (const m of spec.mounts) {
    // No SELinux relabel option: relabelling would rewrite labels on shared host folders.
    args.push(
      '--mount',
      `type=bind,source=${m.hostPath},target=${m.containerPath}${m.readonly ? ',readonly' : ''}`,
    );
  }
  if (spec.workdir !== undefined) args.push('--workdir', spec.workdir);
  for (const host of Object.keys(spec.addHosts ?? {}).sort())
    args.push('--add-host', `${host}:${spec.addHosts?.[host]}`);
  args.push(...envFileArgs(spec, envFile), spec.image, ...(spec.command ?? []));
  return args;
}

function labelFilters(labels: Record<string, string>): string[] {
  return Object.keys(labels)
    .sort()
    .flatMap((key) => ['--filter', `label=${key}=${labels[key]}`]);
}

const NOT_FOUND = /no such (?:container|object|image)|not found|image not known|no container with name/i;

const ociCommon = {
  stopArgs: (name: string, grace: number) => ['stop', '-t', String(grace), name],
  killArgs: (name: string) => ['kill', name],
  inspectArgs: (name: string) => ['container', 'inspect', name],
  parseInspect: (stdout: string) => {
    const first = (parseJson(stdout) as unknown[] | undefined)?.[0];
    if (!first || typeof first !== 'object') return undefined;
    const item = first as Record<string, unknown>;
    const config = record(item.Config);
    const host = record(item.HostConfig);
    return pickState(record(item.State), record(config.Labels), Number(host.Memory ?? 0) > 0);
  },
  imageIdArgs: (tag: string) => ['image', 'inspect', '--format', '{{.Id}}', tag],
  parseImageId: (stdout: string) => stdout.trim() || undefined,
  imageLabelsArgs: (tag: string) => ['image', 'inspect', '--format', '{{json .Config.Labels}}', tag],
  parseImageLabels: (stdout: string) =>
    Object.fromEntries(Object.entries(record(parseJson(stdout))).map(([k, v]) => [k, str(v)])),
  removeImageArgs: (tag: string) => ['image', 'rm', tag],
  importArgs: (tarPath: string, tag: string) => ['import', tarPath, tag],
  tagArgs: (source: string, target: string) => ['tag', source, target],
  imagesWithLabelArgs: (name: string, value: string) => [
    'images',
    '-q',
    '--no-trunc',
    '--filter',
    `label=${name}=${value}`,
  ],
  // One id per tag: an image with two tags is listed twice.
  parseImageIds: (stdout: string) => [
    ...new Set(
      stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean),
    ),
  ],
  imageSizeArgs: (tag: string) => ['image', 'inspect', '--format', '{{.Size}}', tag],
  parseImageSize: (stdout: string) => {
    const size = Number(stdout.trim());
    return stdout.trim() !== '' && Number.isFinite(size) ? size : undefined;
  },
  isNotFound: (stderr: string) => NOT_FOUND.test(stderr),
  isNotRunning: (stderr: string) =>
    /is not running|can only kill running|state improper|not running/i.test(stderr),
};

export const docker: Dialect = {
  ...ociCommon,
  name: 'docker',
  defaultBinary: 'docker',
  runArgs: ociRunArgs,
  removeArgs: (name) => ['rm', '-f', name],
  listArgs: (labels) => ['ps', '-a', ...labelFilters(labels), '--format', '{{json .}}'],
  parseList: (stdout) =>
    parseJsonLines(stdout).map(
      (row): ContainerSummary => ({
        name: str(row.Names).split(',')[0] ?? '',
        running: str(row.State) === 'running',
        labels: parseLabelString(str(row.Labels)),
      }),
    ),
  // The legacy builder: buildx is not installed on every host and BuildKit would try to pull its frontend.
  buildArgs: buildArgsWith(),
  buildEnv: { DOCKER_BUILDKIT: '0' },
  versionArgs: ['version', '--format', '{{.Server.Version}}'],
  parseVersion: (stdout) => stdout.trim(),
  gatewayArgs: ['network', 'inspect', 'bridge'],
  parseGateway: (stdout) => {
    const net = record((parseJson(stdout) as unknown[] | undefined)?.[0]);
    const config = record((record(net.IPAM).Config as unknown[] | undefined)?.[0]);
    const bridgeName = str(record(net.Options)['com.docker.network.bridge.name']);
    return {
      gateway: str(config.Gateway) || undefined,
      subnet: str(config.Subnet) || undefined,
      iface: bridgeName || undefined,
    };
  },
};

export const podman: Dialect = {
  ...ociCommon,
  name: 'podman',
  defaultBinary: 'podman',
  runArgs: ociRunArgs,
  // -t 0: podman's rm -f otherwise waits the stop timeout (10 s) for a process that ignores SIGTERM.
  removeArgs: (name) => ['rm', '-f', '-t', '0', name],
  listArgs: (labels) => ['ps', '-a', ...labelFilters(labels), '--format', 'json'],
  parseList: (stdout) =>
    ((parseJson(stdout) as unknown[] | undefined) ?? []).map((item): ContainerSummary => {
      const row = record(item);
      const names = Array.isArray(row.Names) ? row.Names : [row.Names];
      return {
        name: str(names[0]),
        running: str(row.State) === 'running',
        labels: Object.fromEntries(Object.entries(record(row.Labels)).map(([k, v]) => [k, str(v)])),
      };
    }),
  // --pull=never keeps a FROM line from reaching for a registry.
  buildArgs: buildArgsWith(['--pull=never']),
  buildEnv: {},
  versionArgs: ['version', '--format', '{{.Client.Version}}'],
  parseVersion: (stdout) => stdout.trim(),
  gatewayArgs: ['network', 'inspect', 'podman'],
  parseGateway: (stdout) => {
    const net = record((parseJson(stdout) as unknown[] | undefined)?.[0]);
    const subnet = record((net.subnets as unknown[] | undefined)?.[0]);
    return {
      gateway: str(subnet.gateway) || undefined,
      subnet: str(subnet.subnet) || undefined,
      iface: undefined,
    };
  },
};
