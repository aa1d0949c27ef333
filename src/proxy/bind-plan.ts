import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import process from 'node:process';
import type { RuntimeName } from '../config.ts';
import { type LinuxAddresses, readLinuxAddresses } from './linux-addresses.ts';

/** What the bind decision depends on; gathered by `detectHostFacts`, or written by hand in tests. */
export interface HostFacts {
  runtime: RuntimeName;
  platform: NodeJS.Platform;
  isWsl: boolean;
  /** BERTH_PROXY_HOST, when set. */
  override?: string;
  /** Gateway of the runtime's default network (docker: the `bridge` network; Apple container: its vmnet). */
  bridgeGateway?: string;
  /** Every address assigned to a local interface. */
  localAddresses: string[];
}

/** Where the credential proxy listens and how containers reach it. */
export interface ProxyBindPlan {
  bindHost: string;
  /** Host part of ANTHROPIC_BASE_URL inside the container. */
  containerHost: string;
  /** Network the runtime must put the container on (`--network`), when the default cannot reach the proxy. */
  network?: string;
}

export class ProxyBindError extends Error {
  override name = 'ProxyBindError';
  readonly code = 'PROXY_BIND_UNSAFE';
}

const LOOPBACK = '127.0.0.1';
/** slirp4netns maps 10.0.2.2 to the host's 127.0.0.1 when host loopback is allowed. */
export const PODMAN_LOOPBACK_NETWORK = 'slirp4netns:allow_host_loopback=true';
const SLIRP_HOST = '10.0.2.2';
const WSL_INTEROP_FILES = ['/proc/sys/fs/binfmt_misc/WSLInterop', '/proc/sys/fs/binfmt_misc/WSLInterop-late'];

function bare(host: string): string {
  return host.trim().replace(/^\[(.*)\]$/, '$1');
}

/** True for addresses that listen on every interface: '', 0.0.0.0, ::, ::ffff:0.0.0.0. */
export function isWildcardHost(host: string): boolean {
  const h = bare(host);
  if (h === '') return true;
  const family = isIP(h);
  if (family === 4) return h.split('.').every((part) => Number(part) === 0);
  if (family === 6 && !h.includes('%')) {
    const normal = new URL(`http://[${h}]/`).hostname;
    return normal === '[::]' || normal === '[::ffff:0:0]';
  }
  return false;
}

export function isLoopbackHost(host: string): boolean {
  const h = bare(host).toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6 && !h.includes('%')) {
    const normal = new URL(`http://[${h}]/`).hostname;
    return normal === '[::1]' || /^\[::ffff:7f[0-9a-f]{2}:/.test(normal);
  }
  return false;
}

/** Refuses hosts that would expose the proxy beyond one interface, or that DNS could move. */
export function assertSafeBindHost(host: string, hint = 'a loopback or container-bridge address'): void {
  if (isWildcardHost(host)) {
    throw new ProxyBindError(
      `refusing to bind the credential proxy to "${host}" (every interface); set BERTH_PROXY_HOST to ${hint}`,
    );
  }
  if (bare(host) !== 'localhost' && isIP(bare(host)) === 0) {
    throw new ProxyBindError(
      `credential proxy host "${host}" is not an IP address; set BERTH_PROXY_HOST to ${hint}`,
    );
  }
}

/** Decides where the credential proxy binds. Never a wildcard or LAN address: fails closed instead. */
export function planProxyBind(facts: HostFacts): ProxyBindPlan {
  if (facts.override !== undefined) return planOverride(facts, facts.override);
  return planAuto(facts);
}

function planAuto(facts: HostFacts): ProxyBindPlan {
  const { runtime, platform } = facts;
  if (runtime === 'container') {
    if (platform !== 'darwin') throw new ProxyBindError('the Apple container runtime needs macOS');
    const gw = facts.bridgeGateway;
    if (gw && facts.localAddresses.includes(gw)) return { bindHost: gw, containerHost: gw };
    throw new ProxyBindError(
      `the container network gateway${gw ? ` ${gw}` : ''} is not on a local interface (start a container first?); ` +
        'set BERTH_PROXY_HOST to the gateway shown by `container network list` (e.g. 192.168.64.1)',
    );
  }
  if (platform !== 'linux') {
    // Docker Desktop and podman machine forward these names to the host's loopback.
    const containerHost = runtime === 'docker' ? 'host.docker.internal' : 'host.containers.internal';
    return { bindHost: LOOPBACK, containerHost };
  }
  if (runtime === 'podman') {
    // podman0 exists only while a container runs, so its gateway cannot be bound before the first start.
    return { bindHost: LOOPBACK, containerHost: SLIRP_HOST, network: PODMAN_LOOPBACK_NETWORK };
  }
  const gw = facts.bridgeGateway;
  if (gw && !isWildcardHost(gw) && facts.localAddresses.includes(gw))
    return { bindHost: gw, containerHost: gw };
  // Docker Desktop's WSL integration has no docker0 in the distro but forwards host.docker.internal to its loopback.
  if (facts.isWsl) return { bindHost: LOOPBACK, containerHost: 'host.docker.internal' };
  throw new ProxyBindError(
    `the docker bridge gateway${gw ? ` ${gw}` : ''} is not on a local interface (is dockerd running?); ` +
      'set BERTH_PROXY_HOST to the docker bridge gateway (`docker network inspect bridge`, usually 172.17.0.1)',
  );
}

function suggestion(facts: HostFacts): string {
  try {
    return planAuto(facts).bindHost;
  } catch {
    // Only a hint inside an error message: no automatic choice exists on this host.
    return 'a loopback or container-bridge address';
  }
}

function planOverride(facts: HostFacts, override: string): ProxyBindPlan {
  assertSafeBindHost(override, suggestion(facts));
  const host = bare(override).toLowerCase() === 'localhost' ? LOOPBACK : bare(override);
  if (!isLoopbackHost(host)) return { bindHost: host, containerHost: host };
  const { runtime, platform } = facts;
  if (runtime === 'podman' && platform === 'linux') {
    if (host !== LOOPBACK) {
      throw new ProxyBindError(
        `podman containers reach only 127.0.0.1 on the host; set BERTH_PROXY_HOST to 127.0.0.1`,
      );
    }
    return { bindHost: host, containerHost: SLIRP_HOST, network: PODMAN_LOOPBACK_NETWORK };
  }
  if (runtime === 'container' || (platform === 'linux' && !facts.isWsl)) {
    throw new ProxyBindError(
      `${runtime} containers cannot reach ${host} on this host; set BERTH_PROXY_HOST to ${suggestion({ ...facts, override: undefined })}`,
    );
  }
  return {
    bindHost: host,
    containerHost: runtime === 'podman' ? 'host.containers.internal' : 'host.docker.internal',
  };
}

export interface DetectInput {
  runtime: RuntimeName;
  override?: string;
  /** From the runtime (e.g. `docker network inspect bridge`); docker falls back to docker0's address. */
  bridgeGateway?: string;
}

/** Probes the host: WSL marker files and local interface addresses. Injectable for tests. */
export interface HostProbe {
  wslMarkers?: string[];
  interfaces?: () => NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  /** Kernel view of local addresses, including interfaces without carrier. */
  linux?: () => LinuxAddresses;
  platform?: NodeJS.Platform;
}

export function detectHostFacts(input: DetectInput, probe: HostProbe = {}): HostFacts {
  const platform = probe.platform ?? process.platform;
  const interfaces = (probe.interfaces ?? os.networkInterfaces)();
  const kernel = platform === 'linux' ? (probe.linux ?? readLinuxAddresses)() : undefined;
  const listed = Object.values(interfaces).flatMap((list) => (list ?? []).map((i) => i.address));
  const localAddresses = [...new Set([...listed, ...(kernel?.local ?? [])])];
  const docker0 =
    interfaces.docker0?.find((i) => i.family === 'IPv4')?.address ?? kernel?.byInterface('docker0');
  const bridgeGateway = input.bridgeGateway ?? (input.runtime === 'docker' ? docker0 : undefined);
  return {
    runtime: input.runtime,
    platform,
    isWsl: (probe.wslMarkers ?? WSL_INTEROP_FILES).some((file) => existsSync(file)),
    ...(input.override !== undefined ? { override: input.override } : {}),
    ...(bridgeGateway !== undefined ? { bridgeGateway } : {}),
    localAddresses,
  };
}

/** ANTHROPIC_BASE_URL for containers. */
export function proxyBaseUrl(containerHost: string, port: number): string {
  return `http://${isIP(containerHost) === 6 ? `[${containerHost}]` : containerHost}:${port}`;
}
