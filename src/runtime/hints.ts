import type { RuntimeName } from './types.ts';

/** What to install, per runtime, in words an operator can act on. */
export function installHint(name: RuntimeName): string {
  switch (name) {
    case 'podman':
      return 'install podman (apt-get install podman, brew install podman) or set BERTH_RUNTIME to another runtime';
    case 'docker':
      return 'install docker (apt-get install docker.io, or Docker Desktop) and start the daemon, or set BERTH_RUNTIME to another runtime';
    case 'container':
      return "install Apple's container CLI (macOS 26+ on Apple silicon: https://github.com/apple/container/releases) or set BERTH_RUNTIME to another runtime";
  }
}
