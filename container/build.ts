import process from 'node:process';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { createRuntime, findOnPath } from '../src/runtime/index.ts';
import { type BuildMode, buildAgentImage } from './image/build.ts';

const USAGE = `usage: tsx container/build.ts [--runtime podman|docker|all] [--tag berth-agent:latest] [--offline|--registry]
  --runtime   default BERTH_RUNTIME (auto: podman, then docker, from PATH)
  --tag       default BERTH_IMAGE
  --offline   Debian from debootstrap (cached) + this machine's node (no registry needed)
  --registry  FROM node:22-bookworm-slim (default when that image is present locally)`;

type Builder = 'podman' | 'docker';

/** The runtimes to build for, with the binary found on PATH for each. */
async function runtimes(wanted: string, searchPath: string): Promise<{ name: Builder; binary: string }[]> {
  const known: Builder[] = ['podman', 'docker'];
  const present: { name: Builder; binary: string }[] = [];
  for (const name of known) {
    const binary = await findOnPath(name, searchPath);
    if (binary) present.push({ name, binary });
  }
  if (wanted === 'all' || wanted === 'auto') {
    if (present.length === 0) throw new Error('no container runtime on PATH: install podman or docker');
    return wanted === 'all' ? present : present.slice(0, 1);
  }
  if (!known.includes(wanted as Builder))
    throw new Error(`--runtime must be podman, docker or all (got "${wanted}"); see container/README.md`);
  const found = present.filter((p) => p.name === wanted);
  if (found.length === 0) throw new Error(`${wanted} is not on PATH`);
  return found;
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
  for (const { name, binary } of await runtimes(values.runtime ?? config.runtime, config.searchPath)) {
    const runtime = createRuntime(name, { binary, env: config.cliEnv });
    const started = Date.now();
    const result = await buildAgentImage({
      runtime,
      tag: values.tag ?? config.image,
      mode,
      log: (line) => console.error(line),
    });
    const size = await runtime.imageSize(result.tag);
    const mb = size === undefined ? '?' : Math.round(size / 1e6);
    console.log(
      `${name}\t${result.tag}\t${result.mode}\t${result.built ? 'built' : 'unchanged'}\t${mb} MB\t${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
}

main().catch((err: Error) => {
  console.error(`image build failed: ${err.message}`);
  process.exitCode = 1;
});
