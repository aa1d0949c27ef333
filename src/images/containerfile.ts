import { createHash } from 'node:crypto';
import type { PackageRequest } from './validate.ts';

export type BaseKind = 'offline' | 'registry';

/** Label container/image/build.ts puts on the agent image: `offline` (Debian from debootstrap, no npm) or `registry` (node:22-bookworm-slim). */
export const BASE_KIND_LABEL = 'berth.agent.build';

/** Where host-installed npm packages land in an offline-based image (NODE_PATH points there). */
const NPM_DIR = '/opt/berth/node_modules';

export function baseKindOf(labels: Record<string, string>): BaseKind {
  return labels[BASE_KIND_LABEL] === 'offline' ? 'offline' : 'registry';
}

/**
 * The derived image's Containerfile from a fixed template. Names are validated before this runs, so
 * joining them with spaces stays argument-safe. Both bases are Debian and install apt packages from
 * Debian's archive; the offline base has no npm, so its npm packages are installed on the host into
 * the build context's `npm/` directory and copied in.
 */
export function containerfile(base: string, kind: BaseKind, pkgs: PackageRequest): string {
  const lines = [`FROM ${base}`];
  const root = pkgs.apt.length > 0 || (kind === 'registry' && pkgs.npm.length > 0);
  if (root) lines.push('USER root');
  if (pkgs.apt.length > 0)
    lines.push(
      `RUN apt-get update && apt-get install -y --no-install-recommends ${pkgs.apt.join(' ')} && rm -rf /var/lib/apt/lists/*`,
    );
  if (pkgs.npm.length > 0 && kind === 'registry') lines.push(`RUN npm install -g ${pkgs.npm.join(' ')}`);
  if (root) lines.push('USER 1000:1000');
  if (pkgs.npm.length > 0 && kind === 'offline')
    lines.push(`COPY npm/node_modules ${NPM_DIR}`, `ENV NODE_PATH=${NPM_DIR}`);
  return `${lines.join('\n')}\n`;
}

/** `berth-group-<folder>:<16 hex>`: the same base and packages always give the same tag (and so reuse). */
export function imageTag(folder: string, baseImageId: string, pkgs: PackageRequest): string {
  const hash = createHash('sha256')
    .update(JSON.stringify([baseImageId, [...pkgs.apt].sort(), [...pkgs.npm].sort()]))
    .digest('hex')
    .slice(0, 16);
  // Folders may end in `-`/`_` or pair them, which image repository names forbid.
  const repo = folder.replace(/[_-]+/g, '-').replace(/-+$/, '');
  return `berth-group-${repo}:${hash}`;
}
