import type { FastifyInstance } from 'fastify';
import type { Check } from '../../sessions/control.ts';
import { withDeadline } from '../../store/retry.ts';
import type { AppContext } from '../context.ts';
import { route } from '../route.ts';

export function healthRoutes(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    route(app, 'getHealth', async () => ({ status: 'ok' }));

    route(app, 'getReadiness', async (_request, reply) => {
      const database: Check = await withDeadline(ctx.store.ping(), ctx.config.dbTimeoutMs).then(
        () => ({ ok: true }),
        (err: Error) => ({ ok: false, detail: `database: ${err.message}` }),
      );
      const runner = await ctx.runner.readiness();
      const checks = { database, ...runner };
      const ready = Object.values(checks).every((c) => c.ok);
      reply.code(ready ? 200 : 503);
      return { ready, checks };
    });
  };
}
