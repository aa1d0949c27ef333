import { homedir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import { agentStateDir, type MountRefusal, planMounts } from '../mounts/index.ts';
import { type StagedMounts, stageExtraMounts } from '../mounts/staging.ts';
import { agentConfigEnv } from '../protocol/agent-config.ts';
import { encodeStart, newFrameNonce } from '../protocol/frames.ts';
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
import {
  type ContainerRuntime,
  type RunningContainer,
  type RunSpec,
  refusedEnvName,
} from '../runtime/index.ts';
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
  /** Undoes the run's staging binds; call after the container is removed. */
  unstage(): Promise<void>;
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
  /** The base image's build when berth started it (src/images/agent-image.ts). */
  imageBuild?: {
    building(image: string): boolean;
    check(image: string): Check | undefined;
  };
}

/** Seconds a wake refused during the image build suggests waiting. */
const BUILD_RETRY_AFTER_S = 15;

/** The agent user's home in the image; a tmpfs per run. */
const AGENT_HOME = '/home/agent';

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
    if (!proxy && config.agent === 'claude') {
      throw new AppError(
        'PROXY_UNAVAILABLE',
        this.#deps.proxyProblem ?? 'the credential proxy is not running',
      );
    }
    // Containers never run as root; a root berth hands session folders to the dedicated agent uid.
    const owner = isRoot()
      ? { uid: config.containerUid, gid: config.containerUid }
      : { uid: process.getuid!(), gid: process.getgid!() };
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
      // Without root berth cannot pin a path by bind-mounting it, so it refuses paths a container could swap.
      refuseInsideWritable: !isRoot(),
    });
    const staged: StagedMounts = isRoot()
      ? await stageExtraMounts(
          config.dataDir,
          [this.#deps.instanceId, `${session.id}-${session.generation}`],
          plan.mounts,
          this.#deps.log,
        )
      : { mounts: plan.mounts, release: async () => {} };
    const timeouts: RunTimeouts = {
      idleMs: cc.idleTimeoutMs ?? config.idleTimeoutMs,
      hardMs: cc.hardTimeoutMs ?? config.hardTimeoutMs,
      graceMs: config.stopGraceMs,
    };
    // Groups stored before a name was refused are stopped here too, with the same reason.
    for (const name of Object.keys(cc.env ?? {})) {
      const reason = refusedEnvName(name);
      if (reason)
        throw new AppError(
          'ENV_NAME_REFUSED',
          `group ${group.id} sets env ${name}: ${reason}; update the group`,
        );
    }
    const nonce = newFrameNonce();
    const grant = proxy?.issue(session.id, session.generation);
    const claudeState = await agentStateDir(config.dataDir, group.folder, owner);
    const env: Record<string, string> = {
      ...(cc.env ?? {}),
      HOME: AGENT_HOME,
      TZ: config.timezone,
      BERTH_SESSION_ID: session.id,
      BERTH_GROUP_ID: group.id,
      BERTH_AGENT: config.agent,
      BERTH_AGENT_TEST_HOOKS: config.agentTestHooks ? '1' : '0',
      BERTH_HEARTBEAT_MS: String(Math.max(50, Math.min(5000, Math.floor(timeouts.hardMs / 4)))),
      BERTH_AGENT_CONFIG: agentConfigEnv(cc),
    };
    if (config.agentMaxRetries !== undefined) env.CLAUDE_CODE_MAX_RETRIES = String(config.agentMaxRetries);
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
        ...staged.mounts.map((m) => ({
          hostPath: m.hostPath,
          containerPath: m.containerPath,
          readonly: m.readonly,
        })),
        ...(sockets ? [{ hostPath: sockets.dir, containerPath: CONTAINER_SOCKET_DIR, readonly: true }] : []),
        // The SDK's state (transcripts, settings) per group, so a new container resumes a conversation.
        { hostPath: claudeState, containerPath: `${AGENT_HOME}/.claude`, readonly: false },
      ],
      user: `${owner.uid}:${owner.gid}`,
      memoryMb: Math.min(cc.memoryMb ?? config.containerMemoryMb, config.containerMemoryMb),
      cpus: Math.min(cc.cpus ?? config.containerCpus, config.containerCpus),
      pids: Math.min(cc.pids ?? config.containerPids, config.containerPids),
      // The home directory is scratch space (tools write caches and dotfiles there); ~/.claude is mounted over it.
      tmpfs: ['/tmp:rw,size=64m', `${AGENT_HOME}:rw,size=64m,mode=1777`],
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
      unstage: staged.release,
    };
    try {
      const proc = runtime.run(spec);
      // First on stdin, before any message: the nonce never enters the container's environment.
      proc.stdin.write(encodeStart(nonce));
      return { ...launched, proc };
    } catch (err) {
      this.release(launched);
      await staged.release();
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
    const build = this.#deps.imageBuild?.check(image);
    if (build) return build;
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
    if (this.#deps.imageBuild?.building(image))
      throw new AppError(
        'IMAGE_BUILDING',
        `agent image ${image} is being built (first start); try again shortly`,
        {
          retryAfter: BUILD_RETRY_AFTER_S,
        },
      );
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
