import { homedir } from 'node:os';
import process from 'node:process';
import type { Config } from '../config.ts';
import { UnavailableError } from '../errors.ts';
import { planMounts } from '../mounts/index.ts';
import { type StagedMounts, stageExtraMounts } from '../mounts/staging.ts';
import { encodeStart, newFrameNonce } from '../protocol/frames.ts';
import { type ProxyBindPlan, proxyBaseUrl } from '../proxy/bind-plan.ts';
import type { CredentialProxy, TrafficStats } from '../proxy/credential-proxy.ts';
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
  /** Undoes the run's staging binds; call after the container is removed. */
  release(): Promise<void>;
}

export interface LauncherDeps {
  config: Config;
  installId: string;
  instanceId: string;
  proxy: CredentialProxy | undefined;
  proxyPlan: ProxyBindPlan | undefined;
  /** Why there is no proxy, when there is none. */
  proxyProblem: string | undefined;
  /** Files no extra mount may expose (credentials file, allowlist). */
  protectedPaths: string[];
  log: { warn(obj: object, msg: string): void };
}

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
      throw new UnavailableError(
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
    const nonce = newFrameNonce();
    const grant = proxy?.issue(session.id);
    const env: Record<string, string> = {
      ...(cc.env ?? {}),
      HOME: '/workspace',
      TZ: config.timezone,
      BERTH_SESSION_ID: session.id,
      BERTH_GROUP_ID: group.id,
      BERTH_AGENT: config.agent,
      BERTH_HEARTBEAT_MS: String(Math.max(50, Math.min(5000, Math.floor(timeouts.hardMs / 4)))),
    };
    if (proxy && proxyPlan && grant) {
      env.ANTHROPIC_BASE_URL = proxyBaseUrl(proxyPlan.containerHost, proxy.address.port);
      env[grant.envName] = grant.token;
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
      },
      env,
      mounts: staged.mounts.map((m) => ({
        hostPath: m.hostPath,
        containerPath: m.containerPath,
        readonly: m.readonly,
      })),
      user: `${owner.uid}:${owner.gid}`,
      memoryMb: Math.min(cc.memoryMb ?? config.containerMemoryMb, config.containerMemoryMb),
      cpus: Math.min(cc.cpus ?? config.containerCpus, config.containerCpus),
      pids: Math.min(cc.pids ?? config.containerPids, config.containerPids),
      tmpfs: ['/tmp:rw,size=64m'],
      workdir: '/workspace',
      ...(proxyPlan?.network ? { network: proxyPlan.network } : {}),
    };
    try {
      const proc = runtime.run(spec);
      // First on stdin, before any message: the nonce never enters the container's environment.
      proc.stdin.write(encodeStart(nonce));
      return {
        proc,
        containerName: spec.name,
        nonce,
        image,
        grantToken: grant?.token,
        timeouts,
        release: staged.release,
      };
    } catch (err) {
      if (grant) proxy?.revoke(grant.token);
      await staged.release();
      throw err;
    }
  }

  revoke(token: string | undefined): void {
    if (token) this.#deps.proxy?.revoke(token);
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

  proxyCheck(): Check {
    const { proxy, proxyProblem } = this.#deps;
    if (!proxy) return { ok: this.#deps.config.agent === 'echo', detail: proxyProblem ?? 'not running' };
    return { ok: true, detail: `${proxy.address.host}:${proxy.address.port}` };
  }

  async #requireImage(runtime: ContainerRuntime, image: string): Promise<void> {
    const key = `${runtime.name}:${image}`;
    if (this.#imagesSeen.has(key)) return;
    if (!(await runtime.imageId(image))) {
      throw new UnavailableError(
        'IMAGE_MISSING',
        `agent image ${image} is not present in ${runtime.name}: build it with \`npm run image\` (BERTH_RUNTIME=${runtime.name})`,
      );
    }
    // Presence is cached: checking on every wake would add a CLI round trip to each cold start.
    this.#imagesSeen.add(key);
  }
}

const isRoot = () => process.getuid?.() === 0;
