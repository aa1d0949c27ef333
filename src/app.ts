import websocket from '@fastify/websocket';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { UnavailableError } from './errors.ts';
import { makeAuthCheck } from './http/auth.ts';
import type { AppContext } from './http/context.ts';
import { eventRoutes } from './http/events/routes.ts';
import { groupRoutes } from './http/groups/routes.ts';
import { healthRoutes } from './http/health/routes.ts';
import { imageRoutes } from './http/images/routes.ts';
import { messageRoutes } from './http/messages/routes.ts';
import { mountRoutes, validateGroupContainerConfig } from './http/mounts/routes.ts';
import { problem, sendProblem, toProblem } from './http/problem.ts';
import { sessionRoutes } from './http/sessions/routes.ts';
import { streamRoutes } from './http/stream/routes.ts';
import { closeSocketsGoingAway, selectProtocol } from './http/stream/socket-server.ts';
import { validatorCompiler } from './http/validation.ts';

export interface BuildOptions extends AppContext {
  apiToken: string;
  logger?: FastifyBaseLogger;
}

export const BODY_LIMIT = 256 * 1024;

/** The whole HTTP application: plugins, auth and one error handler. It never listens. */
export async function buildApp(opts: BuildOptions): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: BODY_LIMIT,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // External keys may be 200 characters; Fastify's default stops path parameters at 100.
    routerOptions: { maxParamLength: 256 },
    // Router errors (bad percent-encoding) take the same problem+json path as everything else.
    frameworkErrors: (err, request, reply) => sendProblem(reply, toProblem(err, request)),
    ajv: { customOptions: { removeAdditional: false } },
  });
  app.setValidatorCompiler(validatorCompiler);
  const ctx: AppContext = {
    config: opts.config,
    store: opts.store,
    events: opts.events,
    runner: opts.runner,
    images: opts.images,
  };
  const checkAuth = makeAuthCheck(opts.apiToken);

  // Registered before the auth hook: its onRequest hook marks upgrade requests, so a refused upgrade's socket is closed.
  await app.register(websocket, {
    options: { maxPayload: 64 * 1024, handleProtocols: selectProtocol },
    preClose: closeSocketsGoingAway,
  });

  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config as { public?: boolean; websocket?: boolean };
    if (config.public) return;
    checkAuth(request, config.websocket === true);
  });

  app.setErrorHandler((err, request, reply) => {
    if (err instanceof UnavailableError && err.retryAfterSec)
      reply.header('retry-after', String(err.retryAfterSec));
    return sendProblem(reply, toProblem(err, request));
  });
  app.setNotFoundHandler((request, reply) =>
    sendProblem(
      reply,
      problem(404, 'ROUTE_NOT_FOUND', `${request.method} ${request.url.split('?')[0]} is not a berth route`),
    ),
  );

  await app.register(healthRoutes(ctx));
  await app.register(groupRoutes(ctx, (trust, config) => validateGroupContainerConfig(ctx, trust, config)));
  await app.register(sessionRoutes(ctx));
  await app.register(messageRoutes(ctx));
  await app.register(eventRoutes(ctx));
  await app.register(streamRoutes(ctx));
  await app.register(mountRoutes(ctx));
  await app.register(imageRoutes(ctx));
  return app;
}
