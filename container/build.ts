import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { loadConfig } from '../src/config.ts';
import { type BuildMode, type BuildRuntime, buildAgentImage } from './image/build.ts';

const USAGE = `usage: tsx container/build.ts [--runtime podman|docker|all] [--tag berth-agent:latest] [--offline|--registry]
  --runtime   default BERTH_RUNTIME (auto: podman, then docker, from PATH)
  --tag       default BERTH_IMAGE
  --offline   Debian from debootstrap (cached) + this machine's node (no registry needed)
  --registry  FROM node:22-bookworm-slim (default when that image is present locally)`;

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function runtimes(wanted: string): BuildRuntime[] {
  const known: BuildRuntime[] = ['podman', 'docker'];
  const present = known.filter(onPath);
  if (wanted === 'all' || wanted === 'auto') {
    if (present.length === 0) throw new Error('no container runtime on PATH: install podman or docker');
    return wanted === 'all' ? present : [present[0]!];
  }
  if (!known.includes(wanted as BuildRuntime))
    throw new Error(`--runtime must be podman, docker or all (got "${wanted}"); see container/README.md`);
  if (!present.includes(wanted as BuildRuntime)) throw new Error(`${wanted} is not on PATH`);
  return [wanted as BuildRuntime];
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
  for (const runtime of runtimes(values.runtime ?? config.runtime)) {
    const started = Date.now();
    const result = await buildAgentImage({
      runtime,
      tag: values.tag ?? config.image,
      mode,
      log: (line) => console.error(line),
    });
    const size = await execa(runtime, ['image', 'inspect', '--format', '{{.Size}}', result.tag], {
      reject: false,
    });
    const mb = Math.round(Number(size.stdout.trim()) / 1e6);
    console.log(
      `${runtime}\t${result.tag}\t${result.mode}\t${result.built ? 'built' : 'unchanged'}\t${mb} MB\t${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  }
}

main().catch((err: Error) => {
  console.error(`image build failed: ${err.message}`);
  process.exitCode = 1;
});
