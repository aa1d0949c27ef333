import type { FastifyInstance } from 'fastify';
import type { EventKind } from '../../events/event-log.ts';
import { getSession } from '../../store/sessions.ts';
import type { AppContext } from '../context.ts';
import { presentEvent } from '../present.ts';
import { route } from '../route.ts';

export const parseKinds = (raw: string | undefined): EventKind[] | undefined =>
  raw ? (raw.split(',') as EventKind[]) : undefined;

export function eventRoutes(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    route(app, 'listEvents', async (request, reply) => {
      const { sessionId } = request.params;
      const q = request.query;
      await getSession(ctx.store.db, sessionId);
      const query = { sessionId, after: q.after, kinds: parseKinds(q.kinds), limit: q.limit };
      const abort = new AbortController();
      // The response's close fires when the client goes away (the request's fires once its body is read).
      reply.raw.once('close', () => abort.abort());
      const rows =
        q.wait > 0 ? await ctx.events.wait(query, q.wait, abort.signal) : await ctx.events.read(query);
      return { items: rows.map(presentEvent), nextAfter: rows.at(-1)?.seq ?? q.after };
    });
  };
}
