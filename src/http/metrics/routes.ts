import type { FastifyInstance } from 'fastify';
import type { PromMetrics } from '../../metrics.ts';
import { route } from '../route.ts';

/** `GET /metrics`: the Prometheus text of this instance's registry (admin: the series name every group). */
export function metricsRoutes(metrics: PromMetrics) {
  return async (app: FastifyInstance) => {
    route(app, 'getMetrics', async (_request, reply) =>
      reply.type(metrics.contentType).send(await metrics.scrape()),
    );
  };
}
