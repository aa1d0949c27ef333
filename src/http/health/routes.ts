import type { FastifyInstance } from 'fastify';
import type { Check } from '../../sessions/control.ts';
import { withDeadline } from '../../store/retry.ts';
import type { AppContext } from '../context.ts';
import { route } from '../route.ts';

export function healthRoutes(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    route(app, 'getHealth', async () => ({ status: 'ok' as const }));

    route(app, 'getReadiness', async (request, reply) => {
      const database: Check = await withDeadline(ctx.store.ping(), ctx.config.dbTimeoutMs).then(
        () => ({ ok: true }),
        (err: Error) => ({ ok: false, detail: `database: ${err.message}` }),
      );
      const runner = await ctx.runner.readiness();
      const checks = { database, ...runner };
      const ready = Object.values(checks).every((c) => c.ok);
      reply.code(ready ? 200 : 503);
      // Details name the proxy address and runtime version: only callers with the token see them.
      if (request.principal) return { ready, checks };
      const bare = (c: Check) => ({ ok: c.ok });
      return {
        ready,
        checks: {
          database: bare(checks.database),
          runtime: bare(checks.runtime),
          image: bare(checks.image),
          proxy: bare(checks.proxy),
          network: bare(checks.network),
          modelCredential: bare(checks.modelCredential),
        },
      };
    });
  };
}
