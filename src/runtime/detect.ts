import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { RuntimeMissingError } from './errors.ts';
import { installHint } from './hints.ts';
import type { RuntimeName } from './types.ts';

/** Used when the caller passes no PATH (src/ never reads process.env outside config.ts). */
export const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/opt/homebrew/bin';

export async function findOnPath(binary: string, pathEnv: string): Promise<string | undefined> {
  for (const dir of pathEnv.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, binary);
    try {
      await access(candidate, constants.X_OK);
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** Preference order for `auto`; Apple's CLI only counts on macOS, where a `container` binary means it. */
function autoOrder(platform: NodeJS.Platform = process.platform): RuntimeName[] {
  return platform === 'darwin' ? ['podman', 'docker', 'container'] : ['podman', 'docker'];
}

export async function locateRuntime(
  choice: 'auto' | RuntimeName,
  pathEnv: string,
  platform: NodeJS.Platform = process.platform,
): Promise<{ name: RuntimeName; binary: string }> {
  const candidates = choice === 'auto' ? autoOrder(platform) : [choice];
  for (const name of candidates) {
    const binary = await findOnPath(name, pathEnv);
    if (binary) return { name, binary };
  }
  if (choice !== 'auto')
    throw new RuntimeMissingError(`${choice} was not found on PATH: ${installHint(choice)}`);
  throw new RuntimeMissingError(
    `No container runtime found on PATH (looked for ${candidates.join(', ')}): install podman (apt-get install podman) or docker (apt-get install docker.io)${platform === 'darwin' ? " or Apple's container CLI" : ''}, or set BERTH_RUNTIME`,
  );
}
