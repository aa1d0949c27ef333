import { mkdirSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from './app.ts';
import { type Config, resolveApiToken } from './config.ts';
import { EventLog } from './events/event-log.ts';
import { redactPaths, requestSerializer } from './http/log-redact.ts';
import { createRunnerStack, identities, type RunnerStack } from './sessions/assemble.ts';
import { openStore, type Store } from './store/db.ts';
import { pruneEvents } from './store/events.ts';

export interface Server {
  app: FastifyInstance;
  store: Store;
  events: EventLog;
  stack: RunnerStack;
  apiToken: string;
  tokenGenerated: boolean;
  /** Stops accepting requests, finishes in-flight ones, stops runs (messages requeued), closes the database. */
  close(): Promise<void>;
}

/** Composes the service: store → events → runner stack → HTTP app. Does not listen. */
export async function createServer(config: Config, opts: { store?: Store } = {}): Promise<Server> {
  // The data dir is also the runtime CLIs' working directory, so it exists before anything runs.
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store = opts.store ?? (await openStore({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const { token, generated } = resolveApiToken(config);
  // One logger for the runner and Fastify, made first so start-up warnings are not lost.
  // Secrets never reach a log line: the access_token query is redacted, header bags are censored.
  const log = pino({
    level: config.logLevel,
    serializers: { req: requestSerializer as never },
    redact: redactPaths,
  });
  const ids = identities(config);
  const events = new EventLog(store, { instanceId: ids.instanceId, log });
  const stack = await createRunnerStack(config, store, events, log, ids);
  const app = await buildApp({
    config,
    store,
    events,
    runner: stack.runner,
    images: stack.images,
    apiToken: token,
    logger: log,
  });
  await events.start();
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
    stack,
    apiToken: token,
    tokenGenerated: generated,
    async close() {
      clearInterval(prune);
      await app.close();
      await stack.close();
      await events.close();
      await store.close();
    },
  };
}
