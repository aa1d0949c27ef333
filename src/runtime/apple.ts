import { buildArgsWith, type Dialect, envFileArgs, labelArgs } from './dialect.ts';
import { parseJson, record, str } from './parse.ts';
import type { ContainerState, ContainerSummary, RunSpec } from './types.ts';
import { assertRunSpec, splitTmpfs } from './validate.ts';

/**
 * Apple's `container` CLI (macOS, one lightweight VM per container), mapped from its command
 * reference and run flags (apple/container docs/command-reference.md, docs/runtime-configuration.md).
 *
 * Mapped: -i, --name, --label, --env-file, --read-only,
 * --cap-drop ALL, --user, --memory, --cpus (whole CPUs), --tmpfs (path only), --mount
 * type=bind,…,readonly, --workdir, --network.
 *
 * Skipped on purpose, because `container run` has no such flag:
 * - --pull=never: `run` fetches a missing image; the caller checks imageId() before waking.
 * - --security-opt=no-new-privileges, --pids-limit, --memory-swap: the VM boundary and the VM's
 *   fixed memory stand in for them.
 * - --log-driver: output is only streamed to the attached CLI.
 * - --add-host: the VM reaches the Mac through its gateway address instead.
 */
function appleRunArgs(spec: RunSpec, envFile: string | undefined): string[] {
  assertRunSpec(spec);
  const args = ['run', '-i', '--name', spec.name, ...labelArgs(spec.labels)];
  args.push(
    '--read-only',
    '--cap-drop',
    'ALL',
    '--user',
    spec.user,
    '--memory',
    `${spec.memoryMb}M`,
    // Apple's --cpus takes whole CPUs.
    '--cpus',
    String(Math.max(1, Math.ceil(spec.cpus))),
  );
  if (spec.network !== undefined) args.push('--network', spec.network);
  for (const entry of spec.tmpfs) args.push('--tmpfs', splitTmpfs(entry).path);
  for (const m of spec.mounts) {
    args.push(
      '--mount',
      `type=bind,source=${m.hostPath},target=${m.containerPath}${m.readonly ? ',readonly' : ''}`,
    );
  }
  if (spec.workdir !== undefined) args.push('--workdir', spec.workdir);
  args.push(...envFileArgs(spec, envFile), spec.image, ...(spec.command ?? []));
  return args;
}

function snapshots(stdout: string): Record<string, unknown>[] {
  const parsed = parseJson(stdout);
  return (Array.isArray(parsed) ? parsed : []).map(record);
}

function labelsOf(snapshot: Record<string, unknown>): Record<string, string> {
  const labels = record(record(snapshot.configuration).labels);
  return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, str(v)]));
}

export const apple: Dialect = {
  name: 'container',
  defaultBinary: 'container',
  runArgs: appleRunArgs,
  stopArgs: (name, grace) => ['stop', '-t', String(grace), name],
  killArgs: (name) => ['kill', name],
  removeArgs: (name) => ['delete', '--force', name],
  inspectArgs: (name) => ['inspect', name],
  // Snapshots carry no exit code or OOM flag: the run CLI's own exit code is the container's.
  parseInspect: (stdout): ContainerState | undefined => {
    const snapshot = snapshots(stdout)[0];
    if (!snapshot) return undefined;
    const startedAt = typeof snapshot.startedDate === 'string' ? snapshot.startedDate : undefined;
    return {
      exists: true,
      running: str(snapshot.status) === 'running',
      exitCode: null,
      oomKilled: false,
      oomSuspected: false,
      ...(startedAt ? { startedAt } : {}),
      labels: labelsOf(snapshot),
    };
  },
  // No label filter on `list`; the caller filters.
  listArgs: () => ['list', '--all', '--format', 'json'],
  parseList: (stdout) =>
    snapshots(stdout).map(
      (s): ContainerSummary => ({
        name: str(record(s.configuration).id),
        running: str(s.status) === 'running',
        labels: labelsOf(s),
      }),
    ),
  imageIdArgs: (tag) => ['image', 'inspect', tag],
  parseImageId: (stdout) => {
    const image = snapshots(stdout)[0];
    return image ? str(record(image.index).digest) || undefined : undefined;
  },
  imageLabelsArgs: (tag) => ['image', 'inspect', tag],
  // The image config of the first variant, as the OCI image spec lays it out.
  parseImageLabels: (stdout) => {
    const variant = record((record(snapshots(stdout)[0]).variants as unknown[] | undefined)?.[0]);
    const labels = record(record(record(variant.config).config).Labels);
    return Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, str(v)]));
  },
  buildArgs: buildArgsWith(),
  buildEnv: {},
  removeImageArgs: (tag) => ['image', 'delete', tag],
  // `image load` takes OCI archives only; a root filesystem tarball has no way in.
  importArgs: undefined,
  tagArgs: (source, target) => ['image', 'tag', source, target],
  // `image list` reports no labels.
  imagesWithLabelArgs: undefined,
  parseImageIds: () => [],
  imageSizeArgs: undefined,
  parseImageSize: () => undefined,
  versionArgs: ['--version'],
  parseVersion: (stdout) => stdout.trim(),
  gatewayArgs: undefined,
  parseGateway: () => ({ gateway: undefined, subnet: undefined, iface: undefined }),
  isNotFound: (stderr) => /not found|no such|does not exist/i.test(stderr),
  isNotRunning: (stderr) => /not running|is stopped/i.test(stderr),
};
