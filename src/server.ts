import { mkdirSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from './app.ts';
import { type Config, resolveApiToken } from './config.ts';
import { EventLog } from './events/event-log.ts';
import { FileStore } from './files/store.ts';
import { loadPepper } from './http/keys/secret.ts';
import { redactPaths, requestSerializer } from './http/log-redact.ts';
import { listenMetrics } from './http/metrics/listener.ts';
import { AgentImageBuild } from './images/agent-image.ts';
import { ImageBuilder } from './images/builder.ts';
import { logDestination } from './logger.ts';
import { PromMetrics } from './metrics.ts';
import type { CredentialProxy } from './proxy/credential-proxy.ts';
import { createCredentialSource } from './proxy/credentials.ts';
import { priceTable } from './proxy/pricing.ts';
import { startProxyFor } from './proxy/start.ts';
import { type ContainerRuntime, detectRuntime } from './runtime/index.ts';
import { Scheduler } from './schedules/scheduler.ts';
import { identities, isPredecessorOf } from './sessions/identity.ts';
import { Launcher } from './sessions/launcher.ts';
import { ModelMeter } from './sessions/metering.ts';
import { credentialCheck } from './sessions/model-credential.ts';
import { Reconciler } from './sessions/reconciler.ts';
import { SessionSupervisor } from './sessions/supervisor.ts';
import { openStore, type Store } from './store/db.ts';
import { pruneEvents } from './store/events.ts';
import { withDeadline } from './store/retry.ts';
import { countSessionsByStatus } from './store/sessions.ts';

/** The parts a running berth is made of; tests reach into them to inject faults and observe. */
export interface Parts {
  supervisor: SessionSupervisor;
  runtime: ContainerRuntime | undefined;
  proxy: CredentialProxy | undefined;
  reconciler: Reconciler | undefined;
  images: ImageBuilder;
  schedules: Scheduler;
  files: FileStore;
  instanceId: string;
  installId: string;
  metrics: PromMetrics;
  /** Where GET /metrics is served without a key (BERTH_METRICS_ADDR), if anywhere. */
  metricsAddress: AddressInfo | undefined;
}

export interface Server {
  app: FastifyInstance;
  store: Store;
  events: EventLog;
  parts: Parts;
  apiToken: string;
  tokenGenerated: boolean;
  /** Stops accepting requests, finishes in-flight ones, stops runs (messages requeued), closes the database. */
  close(): Promise<void>;
}

/** Per-run env files and proxy sockets live here; leftovers of a killed process are cleared at start. */
function clearedRunDir(dataDir: string): string {
  const dir = path.join(dataDir, 'run');
  rmSync(dir, { recursive: true, force: true });
  return dir;
}

/**
 * The one wiring file: store → events → runtime, proxy → launcher → supervisor → images → reconciler →
 * schedules → HTTP app. A missing runtime or proxy is reported (readiness, wake errors), not fatal. Does not listen.
 */
export async function createServer(config: Config, opts: { store?: Store } = {}): Promise<Server> {
  // The data dir is also the runtime CLIs' working directory, so it exists before anything runs.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store = opts.store ?? (await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const { token, generated } = resolveApiToken(config);
  // One logger for every part and Fastify, made first so start-up warnings are not lost.
  // Secrets never reach a log line: the access_token query is redacted, header bags are censored.
  const logOptions = {
    level: config.logLevel,
    serializers: { req: requestSerializer as never },
    redact: redactPaths,
  };
  const destination = logDestination(config.logFormat);
  const log = destination ? pino(logOptions, destination) : pino(logOptions);
  // One registry per server: several servers may share a process (tests).
  const metrics: PromMetrics = new PromMetrics((err) => {
    metrics.databaseError('metrics');
    log.warn({ err }, 'reading sessions for metrics failed');
  });
  const metricsListener = config.metricsAddress
    ? await listenMetrics(metrics, config.metricsAddress, log)
    : undefined;
  if (metricsListener)
    log.info({ address: metricsListener.address }, 'GET /metrics is served here without a key');
  const ids = identities(config);
  const { installId, instanceId } = ids;
  const events = new EventLog(store, { instanceId, log, metrics });

  let runtime: ContainerRuntime | undefined;
  let runtimeProblem: string | undefined;
  try {
    runtime = await detectRuntime(config.runtime, {
      pathEnv: config.searchPath,
      cwd: config.dataDir,
      env: config.cliEnv,
      runDir: clearedRunDir(config.dataDir),
    });
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
  const modelCredential = () => credentialCheck(config.agent, () => credentials.mode());
  const credential = modelCredential();
  if (!credential.ok) log.warn({ check: 'modelCredential' }, credential.detail ?? 'no model credential');
  const meter = new ModelMeter({ store, events, prices: priceTable(config.modelPrices), log, metrics });
  const started = runtime
    ? await startProxyFor(
        runtime,
        config,
        credentials,
        log,
        (ctx, record) =>
          events.append(ctx.sessionId, {
            kind: 'lifecycle',
            generation: ctx.generation,
            data: { type: 'egress', ...record },
          }),
        meter,
      )
    : { transport: 'tcp' as const };
  // A missing agent image is built in the background: readiness says "building" and wakes wait for it.
  const imageBuild =
    runtime && config.buildImage && (runtime.name === 'podman' || runtime.name === 'docker')
      ? new AgentImageBuild({ runtime, tag: config.image, log })
      : undefined;
  await imageBuild
    ?.startIfMissing()
    .catch((err) => log.warn({ err }, 'checking for the agent image at start failed'));
  const launcher = new Launcher({
    config,
    installId,
    instanceId,
    proxy: started.proxy,
    proxyPlan: started.plan,
    proxyProblem: started.problem,
    transport: started.transport,
    egress: started.egress,
    log,
    protectedPaths: config.credentialsFile ? [config.credentialsFile] : [],
    ...(imageBuild ? { imageBuild } : {}),
  });
  const files = new FileStore({ dataDir: config.dataDir, store, log, retentionMs: config.fileRetentionMs });
  const supervisor = new SessionSupervisor({
    config,
    files,
    store,
    events,
    instanceId,
    installId,
    runtime,
    ...(runtimeProblem ? { runtimeProblem } : {}),
    launcher,
    ...(imageBuild ? { imageBuilt: () => imageBuild.done() } : {}),
    log,
    metrics,
    modelCredential,
  });
  await supervisor.start();
  const isPredecessor = isPredecessorOf(ids);
  const images = new ImageBuilder({
    store,
    runtime,
    ...(runtimeProblem ? { runtimeProblem } : {}),
    baseImage: config.image,
    installId,
    instanceId,
    timeoutMs: config.buildTimeoutMs,
    cliEnv: config.cliEnv,
    log,
    metrics,
  });
  await images.recover(isPredecessor);
  const reconciler = runtime
    ? new Reconciler({ store, runtime, runner: supervisor, installId, instanceId, isPredecessor, log })
    : undefined;
  if (reconciler) {
    await reconciler.runOnce().catch((err) => log.warn({ err }, 'reconcile at start failed'));
    reconciler.start(config.reconcileIntervalMs, Math.min(2000, Math.max(250, config.leaseMs / 4)));
  }

  const schedules = new Scheduler({
    config,
    store,
    events,
    messageQueued: (sessionId) => supervisor.messageQueued(sessionId),
    log,
  });

  const app = await buildApp({
    config,
    store,
    events,
    runner: supervisor,
    images,
    schedules,
    files,
    apiToken: token,
    keyPepper: loadPepper(config.keyPepperFile),
    logger: log,
    metrics,
  });
  metrics.setSources({
    sessionsByStatus: () => withDeadline(countSessionsByStatus(store.db), config.dbTimeoutMs),
    containersRunning: () => supervisor.running,
    viewersConnected: () => app.websocketServer.clients.size,
  });
  await events.start();
  await files.start();
  schedules.start();
  const prune = setInterval(
    () =>
      void pruneEvents(store.db, {
        keep: config.eventRetentionCount,
        before: new Date(Date.now() - config.eventRetentionMs),
      }).catch((err) => log.warn({ err }, 'event pruning failed')),
    60_000,
  );
  return {
    app,
    store,
    events,
    parts: {
      supervisor,
      runtime,
      proxy: started.proxy,
      reconciler,
      images,
      schedules,
      files,
      instanceId,
      installId,
      metrics,
      metricsAddress: metricsListener?.address,
    },
    apiToken: token,
    tokenGenerated: generated,
    async close() {
      clearInterval(prune);
      files.close();
      await app.close();
      await metricsListener?.close();
      await schedules.close();
      await reconciler?.stop();
      await images.close();
      await supervisor.close();
      await started.proxy?.close();
      started.egress?.close();
      credentials.close();
      await events.close();
      await store.close();
    },
  };
}
