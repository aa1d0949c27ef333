import process from 'node:process';
import { parseArgs } from 'node:util';
import { loadConfig, type RuntimeName } from '../src/config.ts';
import { type ContainerRuntime, createRuntime, detectRuntime, findOnPath } from '../src/runtime/index.ts';
import { type BuildMode, buildAgentImage } from './image/build.ts';

const USAGE = `usage: tsx container/build.ts [--runtime podman|docker|all] [--tag berth-agent:latest] [--offline|--registry]
  --runtime   default BERTH_RUNTIME (auto: podman, then docker, from PATH)
  --tag       default BERTH_IMAGE
  --offline   FROM scratch + a rootfs assembled from this machine (no registry needed)
  --registry  FROM node:20-slim (default when that image is present locally)`;

const NAMES: readonly RuntimeName[] = ['podman', 'docker', 'container'];

async function runtimes(wanted: string, searchPath: string): Promise<ContainerRuntime[]> {
  if (wanted === 'all') {
    const found: ContainerRuntime[] = [];
    for (const name of ['podman', 'docker'] as const) {
      const binary = await findOnPath(name, searchPath);
      if (binary) found.push(createRuntime(name, { binary }));
    }
    if (found.length === 0) throw new Error('no container runtime on PATH: install podman or docker');
    return found;
  }
  if (wanted !== 'auto' && !NAMES.includes(wanted as RuntimeName))
    throw new Error(`--runtime must be podman, docker or all (got "${wanted}"); see container/README.md`);
  return [await detectRuntime(wanted as 'auto' | RuntimeName, { pathEnv: searchPath })];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      runtime: { type: 'string' },
      tag: { type: 'string' },
      offline: { type: 'boolean' },
      registry: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (values.offline && values.registry) throw new Error('choose one of --offline and --registry');
  const config = loadConfig();
  const mode: BuildMode | undefined = values.offline ? 'offline' : values.registry ? 'registry' : undefined;
  for (const runtime of await runtimes(values.runtime ?? config.runtime, config.searchPath)) {
    const started = Date.now();
    const result = await buildAgentImage({
      runtime,
      tag: values.tag ?? config.image,
      mode,
      log: (line) => console.error(line),
      output: (line) => console.error(`  ${line}`),
    });
    console.log(
      `${runtime.name}\t${result.tag}\t${result.mode}\t${result.built ? 'built' : 'unchanged'}\t${Date.now() - started} ms`,
    );
  }
}

main().catch((err: Error) => {
  console.error(`image build failed: ${err.message}`);
  process.exitCode = 1;
});
