import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import type { Finding } from './doctor-report.ts';

const RUNTIMES = ['podman', 'docker'] as const;
const PROBE_TIMEOUT_MS = 15_000;

async function onPath(binary: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, binary);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory; keep looking
    }
  }
  return undefined;
}

const ENGINE_HINT: Record<(typeof RUNTIMES)[number], string> = {
  podman:
    'run `podman version` to see why podman does not answer (rootless: loginctl enable-linger, or podman system migrate)',
  docker: 'start the Docker engine: sudo systemctl start docker (and add your user to the docker group)',
};

/**
 * This machine's side of what berth needs: a container runtime on PATH that answers, and the agent
 * image in it. Run when the server cannot report these itself (it is down, or its checks failed).
 */
export async function localChecks(searchPath: string, image: string): Promise<Finding[]> {
  const seen: string[] = [];
  let answering: string | undefined;
  for (const name of RUNTIMES) {
    const binary = await onPath(name, searchPath);
    if (!binary) continue;
    const probe = await execa(binary, ['version'], {
      reject: false,
      timeout: PROBE_TIMEOUT_MS,
      stdin: 'ignore',
    });
    if (probe.exitCode === 0) {
      answering = binary;
      seen.push(`${name} answers`);
      break;
    }
    seen.push(`${name} on PATH does not answer`);
  }
  if (!answering) {
    const fix = seen.length
      ? RUNTIMES.filter((r) => seen.some((s) => s.startsWith(r)))
          .map((r) => ENGINE_HINT[r])
          .join('; or ')
      : 'install podman (apt-get install podman) or docker (apt-get install docker.io)';
    return [
      {
        name: 'local runtime',
        ok: false,
        detail: seen.join(', ') || 'neither podman nor docker is on PATH',
        fix,
      },
      {
        name: 'local image',
        ok: false,
        detail: 'no runtime to look in',
        fix: 'fix the runtime first, then: npm run image',
      },
    ];
  }
  const runtime = path.basename(answering);
  const inspect = await execa(answering, ['image', 'inspect', image], {
    reject: false,
    timeout: PROBE_TIMEOUT_MS,
    stdin: 'ignore',
  });
  return [
    { name: 'local runtime', ok: true, detail: seen.join(', ') },
    inspect.exitCode === 0
      ? { name: 'local image', ok: true, detail: `${image} in ${runtime}` }
      : {
          name: 'local image',
          ok: false,
          detail: `${image} is not in ${runtime}`,
          fix: `build it: npm run image (npm start also builds it when missing), or set BERTH_IMAGE to an image ${runtime} has`,
        },
  ];
}
