import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import os from 'node:os';
import process from 'node:process';
import { bare, isWildcardHost } from '../config/parse.ts';
import type { RuntimeName } from '../config.ts';
import { AppError } from '../errors.ts';
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

/**
 * Where the credential proxy listens and how containers reach it. `socket`: through a Unix socket
 * mounted into each container (Linux docker/podman; the network policy is enforced), the TCP
 * listener then serves host-side tools only. `tcp`: over the runtime's network at containerHost
 * (VM-based runtimes, where sockets do not cross into the VM; the policy is not enforced).
 */
export type ProxyBindPlan =
  | { transport: 'socket'; bindHost: string }
  | { transport: 'tcp'; bindHost: string; containerHost: string };

export class ProxyBindError extends AppError {
  override name = 'ProxyBindError';
  constructor(message: string) {
    super('PROXY_BIND_UNSAFE', message);
  }
}

const LOOPBACK = '127.0.0.1';
const WSL_INTEROP_FILES = ['/proc/sys/fs/binfmt_misc/WSLInterop', '/proc/sys/fs/binfmt_misc/WSLInterop-late'];

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

/** True where the runtime's containers share this kernel, so a bind-mounted Unix socket reaches them. */
export function socketCapable(facts: HostFacts): boolean {
  if (facts.platform !== 'linux') return false;
  if (facts.runtime === 'podman') return true;
  // Docker Desktop's WSL integration runs the engine in another VM: only a distro-local dockerd has docker0.
  const gw = facts.bridgeGateway;
  return facts.runtime === 'docker' && (!facts.isWsl || (!!gw && facts.localAddresses.includes(gw)));
}

/** Decides where the credential proxy binds. Never a wildcard or LAN address: fails closed instead. */
export function planProxyBind(facts: HostFacts): ProxyBindPlan {
  if (socketCapable(facts)) {
    const host = facts.override === undefined ? LOOPBACK : bare(facts.override);
    assertSafeBindHost(host, LOOPBACK);
    if (!isLoopbackHost(host)) {
      throw new ProxyBindError(
        `containers reach the credential proxy through a mounted socket here; BERTH_PROXY_HOST only moves its host-side listener and must be a loopback address (e.g. ${LOOPBACK}), got "${facts.override}"`,
      );
    }
    return { transport: 'socket', bindHost: host.toLowerCase() === 'localhost' ? LOOPBACK : host };
  }
  if (facts.override !== undefined) return planOverride(facts, facts.override);
  return planAuto(facts);
}

function planAuto(facts: HostFacts): ProxyBindPlan & { transport: 'tcp' } {
  const { runtime, platform } = facts;
  if (runtime === 'container') {
    if (platform !== 'darwin') throw new ProxyBindError('the Apple container runtime needs macOS');
    const gw = facts.bridgeGateway;
    if (gw && facts.localAddresses.includes(gw)) return { transport: 'tcp', bindHost: gw, containerHost: gw };
    throw new ProxyBindError(
      `the container network gateway${gw ? ` ${gw}` : ''} is not on a local interface (start a container first?); ` +
        'set BERTH_PROXY_HOST to the gateway shown by `container network list` (e.g. 192.168.64.1)',
    );
  }
  // Docker Desktop (also its WSL integration) and podman machine forward these names to the host's loopback.
  const containerHost = runtime === 'docker' ? 'host.docker.internal' : 'host.containers.internal';
  return { transport: 'tcp', bindHost: LOOPBACK, containerHost };
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
  if (!isLoopbackHost(host)) return { transport: 'tcp', bindHost: host, containerHost: host };
  if (facts.runtime === 'container') {
    throw new ProxyBindError(
      `container VMs cannot reach ${host} on this host; set BERTH_PROXY_HOST to ${suggestion({ ...facts, override: undefined })}`,
    );
  }
  return {
    transport: 'tcp',
    bindHost: host,
    containerHost: facts.runtime === 'podman' ? 'host.containers.internal' : 'host.docker.internal',
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
