import { homedir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import { type MountRefusal, planMounts } from '../mounts/index.ts';
import { newFrameNonce } from '../protocol/frames.ts';
import { type ProxyBindPlan, proxyBaseUrl } from '../proxy/bind-plan.ts';
import type { CredentialProxy, TrafficStats } from '../proxy/credential-proxy.ts';
import type { EgressProxy } from '../proxy/egress-proxy.ts';
import { effectiveNetwork, type NetworkPolicyName, networkEnv } from '../proxy/network-policy.ts';
import {
  CONTAINER_SOCKET_DIR,
  openRunSockets,
  type RunSockets,
  type SocketHandler,
} from '../proxy/run-sockets.ts';
import type { ContainerRuntime, RunningContainer, RunSpec } from '../runtime/index.ts';
import type { GroupRow, SessionRow } from '../store/schema.ts';
import type { Check } from './control.ts';
import type { RunTimeouts } from './live-run.ts';

export interface Launched {
  proc: RunningContainer;
  containerName: string;
  nonce: string;
  image: string;
  grantToken: string | undefined;
  timeouts: RunTimeouts;
  /** Extra mounts of the group that failed their checks at this wake and were left out. */
  refusedMounts: MountRefusal[];
  network: NetworkPolicyName;
  /** The run's proxy sockets; closed by release(). */
  sockets: RunSockets | undefined;
}

export interface LauncherDeps {
  config: Config;
  installId: string;
  instanceId: string;
  proxy: CredentialProxy | undefined;
  proxyPlan: ProxyBindPlan | undefined;
  /** socket: containers run without a network and reach the proxies through mounted sockets (policy enforced). */
  transport: 'socket' | 'tcp';
  egress: EgressProxy | undefined;
  /** Why there is no proxy, when there is none. */
  proxyProblem: string | undefined;
  /** Files no extra mount may expose (credentials file, allowlist). */
  protectedPaths: string[];
  log: { warn(obj: object, msg: string): void };
}

// Containers never run as root; when berth itself is root, session folders are handed to this user.
const CONTAINER_USER = { uid: 1000, gid: 1000 };

/** Turns a session and its group into a hardened `run`: mounts, env, limits, labels, proxy placeholder. */
export class Launcher {
  readonly #deps: LauncherDeps;
  readonly #imagesSeen = new Set<string>();

  constructor(deps: LauncherDeps) {
    this.#deps = deps;
  }

  async launch(runtime: ContainerRuntime, session: SessionRow, group: GroupRow): Promise<Launched> {
    const { config, proxy, proxyPlan } = this.#deps;
    const cc = group.containerConfig;
    const image = cc.image ?? config.image;
    await this.#requireImage(runtime, image);
    if (!proxy && config.agent === 'anthropic') {
      throw new AppError(
        'PROXY_UNAVAILABLE',
        this.#deps.proxyProblem ?? 'the credential proxy is not running',
      );
    }
    const owner = isRoot() ? CONTAINER_USER : { uid: process.getuid!(), gid: process.getgid!() };
    const plan = await planMounts({
      trust: group.trust,
      groupFolder: group.folder,
      groupId: group.id,
      sessionId: session.id,
      dataDir: config.dataDir,
      projectRoot: config.projectRoot,
      allowlistPath: config.mountAllowlist,
      homeDir: homedir(),
      extra: cc.mounts ?? [],
      protectedPaths: this.#deps.protectedPaths,
      owner,
    });
    const timeouts: RunTimeouts = {
      idleMs: cc.idleTimeoutMs ?? config.idleTimeoutMs,
      hardMs: cc.hardTimeoutMs ?? config.hardTimeoutMs,
      graceMs: config.stopGraceMs,
    };
    const nonce = newFrameNonce();
    const grant = proxy?.issue(session.id, session.generation);
    const env: Record<string, string> = {
      ...(cc.env ?? {}),
      HOME: '/workspace',
      TZ: config.timezone,
      BERTH_SESSION_ID: session.id,
      BERTH_GROUP_ID: group.id,
      BERTH_FRAME_NONCE: nonce,
      BERTH_AGENT: config.agent,
      BERTH_HEARTBEAT_MS: String(Math.max(50, Math.min(5000, Math.floor(timeouts.hardMs / 4)))),
    };
    if (grant) env[grant.envName] = grant.token;
    const network = effectiveNetwork(
      { policy: config.networkPolicy, allow: config.egressAllowlist },
      cc.network,
    );
    let sockets: RunSockets | undefined;
    if (this.#deps.transport === 'socket') {
      const { egress } = this.#deps;
      const handlers: Record<string, SocketHandler> = {};
      if (proxy) handlers.model = (socket) => proxy.accept(socket);
      if (network.policy === 'allowlist' && egress) {
        const ctx = { sessionId: session.id, generation: session.generation, lists: network.lists };
        handlers.egress = (socket) => egress.accept(socket, ctx);
      }
      try {
        sockets = await openRunSockets(path.join(config.dataDir, 'run'), session.containerName!, handlers);
      } catch (err) {
        if (grant) proxy?.revoke(grant.token);
        throw err;
      }
      Object.assign(env, networkEnv(network.policy));
    } else if (proxy && proxyPlan?.transport === 'tcp') {
      env.ANTHROPIC_BASE_URL = proxyBaseUrl(proxyPlan.containerHost, proxy.address.port);
    }
    const spec: RunSpec = {
      name: session.containerName!,
      image,
      labels: {
        'berth.managed': 'true',
        'berth.install': this.#deps.installId,
        'berth.instance': this.#deps.instanceId,
        'berth.session': session.id,
        'berth.generation': String(session.generation),
        'berth.network': this.#deps.transport === 'socket' ? network.policy : 'unenforced',
      },
      env,
      mounts: [
        ...plan.mounts.map((m) => ({
          hostPath: m.hostPath,
          containerPath: m.containerPath,
          readonly: m.readonly,
        })),
        ...(sockets ? [{ hostPath: sockets.dir, containerPath: CONTAINER_SOCKET_DIR, readonly: true }] : []),
      ],
      user: `${owner.uid}:${owner.gid}`,
      memoryMb: Math.min(cc.memoryMb ?? config.containerMemoryMb, config.containerMemoryMb),
      cpus: Math.min(cc.cpus ?? config.containerCpus, config.containerCpus),
      pids: Math.min(cc.pids ?? config.containerPids, config.containerPids),
      tmpfs: ['/tmp:rw,size=64m'],
      workdir: '/workspace',
      // Without a network the container's only way out is the mounted sockets; `open` keeps the runtime's bridge.
      ...(sockets && network.policy !== 'open' ? { network: 'none' } : {}),
    };
    const launched = {
      containerName: spec.name,
      nonce,
      image,
      grantToken: grant?.token,
      timeouts,
      network: network.policy,
      sockets,
      refusedMounts: plan.refused,
    };
    try {
      return { ...launched, proc: runtime.run(spec) };
    } catch (err) {
      this.release(launched);
      throw err;
    }
  }

  /** Ends what a run was given: its placeholder and its proxy sockets. */
  release(launched: Pick<Launched, 'grantToken' | 'sockets'>): void {
    if (launched.grantToken) this.#deps.proxy?.revoke(launched.grantToken);
    launched.sockets
      ?.close()
      .catch((err: Error) => this.#deps.log.warn({ err: err.message }, 'closing proxy sockets failed'));
  }

  /** All proxy traffic of the session in this process, or undefined without a proxy. */
  proxyUsage(sessionId: string): TrafficStats | undefined {
    return this.#deps.proxy?.stats(sessionId);
  }

  /** Asks the runtime afresh (and refreshes what wakes rely on), so a removed image shows up here. */
  async imageCheck(runtime: ContainerRuntime, image: string): Promise<Check> {
    this.#imagesSeen.delete(`${runtime.name}:${image}`);
    return this.#requireImage(runtime, image).then(
      () => ({ ok: true, detail: image }),
      (err: Error) => ({ ok: false, detail: err.message }),
    );
  }

  /** What the network policy holds to here; on VM-based runtimes it is not enforced, and says so loudly. */
  networkCheck(): Check {
    const { config, transport } = this.#deps;
    if (transport === 'socket') {
      return {
        ok: true,
        detail: `default policy ${config.networkPolicy}; containers run with --network none (open: the runtime bridge) and reach berth only through mounted sockets`,
      };
    }
    return {
      ok: true,
      detail: `default policy ${config.networkPolicy}`,
      warning:
        'network policy NOT enforced: this runtime runs containers in a VM that a mounted socket cannot reach, so containers use its normal network and can reach the host and the internet',
    };
  }

  proxyCheck(): Check {
    const { proxy, proxyProblem } = this.#deps;
    if (!proxy) return { ok: this.#deps.config.agent === 'echo', detail: proxyProblem ?? 'not running' };
    return { ok: true, detail: `${proxy.address.host}:${proxy.address.port}` };
  }

  async #requireImage(runtime: ContainerRuntime, image: string): Promise<void> {
    const key = `${runtime.name}:${image}`;
    if (this.#imagesSeen.has(key)) return;
    if (!(await runtime.imageId(image))) {
      throw new AppError(
        'IMAGE_MISSING',
        `agent image ${image} is not present in ${runtime.name}: build it with \`npm run image\` (BERTH_RUNTIME=${runtime.name})`,
      );
    }
    // Presence is cached: checking on every wake would add a CLI round trip to each cold start.
    this.#imagesSeen.add(key);
  }
}

const isRoot = () => process.getuid?.() === 0;
