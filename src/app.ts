import type { Buffer } from 'node:buffer';
import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { authorize, makeAuthenticator } from './http/auth.ts';
import { consoleRoutes } from './http/console/routes.ts';
import type { AppContext } from './http/context.ts';
import { docsRoutes } from './http/docs/routes.ts';
import { eventRoutes } from './http/events/routes.ts';
import { fileRoutes } from './http/files/routes.ts';
import { groupRoutes } from './http/groups/routes.ts';
import { healthRoutes } from './http/health/routes.ts';
import { imageRoutes } from './http/images/routes.ts';
import { keyRoutes } from './http/keys/routes.ts';
import { messageRoutes } from './http/messages/routes.ts';
import { metricsRoutes } from './http/metrics/routes.ts';
import { mountRoutes, validateGroupContainerConfig } from './http/mounts/routes.ts';
import { problem, sendProblem, toProblem } from './http/problem.ts';
import type { RouteConfig } from './http/route.ts';
import { scheduleRoutes } from './http/schedules/routes.ts';
import { makeScopeCheck } from './http/scope.ts';
import { sessionRoutes } from './http/sessions/routes.ts';
import { KeySockets } from './http/stream/key-sockets.ts';
import { streamRoutes } from './http/stream/routes.ts';
import { closeSocketsGoingAway, selectProtocol } from './http/stream/socket-server.ts';
import { validatorCompiler } from './http/validation.ts';
import type { PromMetrics } from './metrics.ts';

export interface BuildOptions extends AppContext {
  apiToken: string;
  /** The secret API key digests are keyed with. */
  keyPepper: Buffer;
  logger?: FastifyBaseLogger;
  /** This server's registry: every layer records into it, `GET /metrics` reads it. */
  metrics: PromMetrics;
}

export const BODY_LIMIT = 256 * 1024;

/** The whole HTTP application: plugins, auth and one error handler. It never listens. */
export async function buildApp(opts: BuildOptions): Promise<FastifyInstance> {
  const c = opts.config;
  const headersTimeout = Math.min(c.httpHeadersTimeoutMs, c.httpRequestTimeoutMs);
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: BODY_LIMIT,
    // Slow clients cannot hold requests open: the whole request must arrive within requestTimeout.
    requestTimeout: c.httpRequestTimeoutMs,
    connectionTimeout: c.httpIdleTimeoutMs,
    keepAliveTimeout: c.httpKeepAliveTimeoutMs,
    // Node checks the request and headers deadlines on this interval (30 s by default).
    http: { headersTimeout, connectionsCheckingInterval: Math.max(50, Math.min(1000, headersTimeout / 4)) },
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // External keys may be 200 characters; Fastify's default stops path parameters at 100.
    routerOptions: { maxParamLength: 256 },
    // Router errors (bad percent-encoding) take the same problem+json path as everything else.
    frameworkErrors: (err, request, reply) => sendProblem(reply, toProblem(err, request)),
    ajv: { customOptions: { removeAdditional: false } },
  });
  // Beyond this many open sockets (WebSockets included) new connections are closed on accept.
  app.server.maxConnections = c.httpMaxConnections;
  app.setValidatorCompiler(validatorCompiler);
  const ctx: AppContext = {
    config: opts.config,
    store: opts.store,
    events: opts.events,
    runner: opts.runner,
    images: opts.images,
    schedules: opts.schedules,
    files: opts.files,
  };
  const authenticate = makeAuthenticator({
    bootstrapToken: opts.apiToken,
    pepper: opts.keyPepper,
    db: opts.store.db,
    log: app.log,
  });
  const checkScope = makeScopeCheck(opts.store.db);
  const sockets = new KeySockets();
  app.decorate('keySockets', sockets);
  app.decorateRequest('principal', null);

  // Registered before the auth hook: its onRequest hook marks upgrade requests, so a refused upgrade's socket is closed.
  await app.register(websocket, {
    options: { maxPayload: 64 * 1024, handleProtocols: selectProtocol },
    preClose: closeSocketsGoingAway,
  });

  // The role each operation needs comes from the contract (x-berth-role); unknown routes need a key too.
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config as Partial<RouteConfig>;
    if (config.role === 'public') {
      // Public routes answer everyone, but say more to a caller whose key is valid; a bad one just sees less.
      if (request.headers.authorization !== undefined)
        request.principal = await authenticate(request, false).catch(() => null);
      return;
    }
    request.principal = await authenticate(request, config.websocket === true);
    if (config.operationId && config.role) authorize(request.principal, config.role, config.operationId);
  });
  // After validation: group-limited keys get 404 for other groups' resources.
  app.addHook('preHandler', async (request) => {
    if (request.principal && (request.routeOptions.config as Partial<RouteConfig>).role !== 'public')
      await checkScope(request);
  });

  app.setErrorHandler((err, request, reply) => {
    const answer = toProblem(err, request);
    if (answer.code === 'DATABASE_UNAVAILABLE') opts.metrics.databaseError('http');
    if (answer.code === 'RUNTIME_COMMAND_FAILED') opts.metrics.runtimeError('http');
    return sendProblem(reply, answer);
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      problem('ROUTE_NOT_FOUND', `${request.method} ${request.url.split('?')[0]} is not a berth route`),
    ),
  );

  await app.register(healthRoutes(ctx));
  await app.register(
    groupRoutes(ctx, (trust, config) => validateGroupContainerConfig(ctx, trust, config), opts.metrics),
  );
  await app.register(sessionRoutes(ctx));
  await app.register(messageRoutes(ctx, opts.metrics));
  await app.register(eventRoutes(ctx));
  await app.register(streamRoutes(ctx));
  await app.register(mountRoutes(ctx));
  await app.register(imageRoutes(ctx));
  await app.register(keyRoutes(ctx, { pepper: opts.keyPepper, sockets }));
  await app.register(scheduleRoutes(ctx));
  await app.register(consoleRoutes());
  await app.register(metricsRoutes(opts.metrics));
  await app.register(docsRoutes());
  await app.register(fileRoutes(ctx));
  return app;
}
