import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import process from 'node:process';
import type { Config } from '../config.ts';
import type { EventLog } from '../events/event-log.ts';
import { ImageBuilder } from '../images/builder.ts';
import { clearStaging } from '../mounts/staging.ts';
import { detectHostFacts, type ProxyBindPlan, planProxyBind } from '../proxy/bind-plan.ts';
import { type CredentialProxy, createCredentialProxy } from '../proxy/credential-proxy.ts';
import { createCredentialSource } from '../proxy/credentials.ts';
import { type ContainerRuntime, detectRuntime } from '../runtime/index.ts';
import type { Store } from '../store/db.ts';
import { Launcher } from './launcher.ts';
import { Reconciler } from './reconciler.ts';
import { SessionRunner } from './supervisor.ts';

interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface RunnerStack {
  runner: SessionRunner;
  runtime: ContainerRuntime | undefined;
  proxy: CredentialProxy | undefined;
  reconciler: Reconciler | undefined;
  images: ImageBuilder;
  instanceId: string;
  installId: string;
  close(): Promise<void>;
}

const shortHash = (text: string, len: number) =>
  createHash('sha256').update(text).digest('hex').slice(0, len);

/**
 * Instances sharing one database share an install id (and so see each other's containers); an
 * instance id starts with a key of this host and data dir, so a restarted process recognises
 * its predecessor's runs as dead without waiting for their leases.
 */
export function identities(config: Config): { installId: string; instanceId: string; hostKey: string } {
  const installId =
    config.installId ?? shortHash(config.databaseUrl ?? `${hostname()}:${config.dataDir}`, 12);
  const hostKey = shortHash(`${hostname()}:${config.dataDir}`, 10);
  return { installId, hostKey, instanceId: `${hostKey}-${randomBytes(4).toString('hex')}` };
}

/** Runtime, credential proxy, launcher, runner and reconciler, wired together; missing parts are reported, not fatal. */
export async function createRunnerStack(
  config: Config,
  store: Store,
  events: EventLog,
  log: Logger,
  ids: ReturnType<typeof identities> = identities(config),
): Promise<RunnerStack> {
  const { installId, instanceId, hostKey } = ids;
  let runtime: ContainerRuntime | undefined;
  let runtimeProblem: string | undefined;
  try {
    runtime = await detectRuntime(config.runtime, { pathEnv: config.searchPath, cwd: config.dataDir });
  } catch (err) {
    runtimeProblem = (err as Error).message;
    log.warn({ problem: runtimeProblem }, 'no container runtime; sessions cannot wake');
  }

  const credentials = createCredentialSource({
    file: config.credentialsFile,
    apiKey: config.anthropicApiKey,
    oauthToken: config.claudeCodeOauthToken,
    log,
  });
  let proxy: CredentialProxy | undefined;
  let proxyPlan: ProxyBindPlan | undefined;
  let proxyProblem: string | undefined;
  if (runtime) {
    try {
      const bridgeGateway = await runtime.bridgeGateway().catch(() => undefined);
      proxyPlan = planProxyBind(
        detectHostFacts({
          runtime: runtime.name,
          ...(config.proxyHost ? { override: config.proxyHost } : {}),
          ...(bridgeGateway ? { bridgeGateway } : {}),
        }),
      );
      proxy = await createCredentialProxy({
        host: proxyPlan.bindHost,
        port: config.proxyPort,
        upstream: config.proxyUpstream,
        maxBodyBytes: config.proxyMaxBodyBytes,
        credentials,
        log,
      });
      log.info(
        { address: proxy.address, containerHost: proxyPlan.containerHost },
        'credential proxy listening',
      );
    } catch (err) {
      proxyProblem = (err as Error).message;
      proxyPlan = undefined;
      log.warn({ problem: proxyProblem }, 'credential proxy not started');
    }
  }

  const launcher = new Launcher({
    config,
    installId,
    instanceId,
    proxy,
    proxyPlan,
    proxyProblem,
    protectedPaths: config.credentialsFile ? [config.credentialsFile] : [],
    log,
  });
  const runner = new SessionRunner({
    config,
    store,
    events,
    instanceId,
    installId,
    runtime,
    ...(runtimeProblem ? { runtimeProblem } : {}),
    launcher,
    log,
  });
  await runner.start();
  const isPredecessor = (id: string) => id.startsWith(`${hostKey}-`) && id !== instanceId;
  if (isRoot()) await clearStaging(config.dataDir, isPredecessor, log);
  const images = new ImageBuilder({
    store,
    runtime,
    ...(runtimeProblem ? { runtimeProblem } : {}),
    baseImage: config.image,
    installId,
    instanceId,
    timeoutMs: config.buildTimeoutMs,
    searchPath: config.searchPath,
    log,
  });
  await images.recover(isPredecessor);
  const reconciler = runtime
    ? new Reconciler({
        store,
        runtime,
        runner,
        installId,
        instanceId,
        isPredecessor,
        log,
      })
    : undefined;
  if (reconciler) {
    await reconciler.runOnce().catch((err) => log.warn({ err }, 'reconcile at start failed'));
    reconciler.start(config.reconcileIntervalMs);
  }
  return {
    runner,
    runtime,
    proxy,
    reconciler,
    images,
    instanceId,
    installId,
    async close() {
      await reconciler?.stop();
      await images.close();
      await runner.close();
      await proxy?.close();
      credentials.close();
    },
  };
}

const isRoot = () => process.getuid?.() === 0;
