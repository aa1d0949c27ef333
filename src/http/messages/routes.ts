import type { FastifyInstance } from 'fastify';
import { enqueueMessage, getMessage, listMessages } from '../../store/messages.ts';
import { withDeadline } from '../../store/retry.ts';
import { getSession } from '../../store/sessions.ts';
import type { AppContext } from '../context.ts';
import { presentMessage } from '../present.ts';
import { route } from '../route.ts';

export function messageRoutes(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    const { db } = ctx.store;

    route(app, 'postMessage', async (request, reply) => {
      const { sessionId } = request.params as { sessionId: string };
      const { text } = request.body as { text: string };
      const idempotencyKey = (request.headers as Record<string, string | undefined>)['idempotency-key'];
      // 202 only once committed; a database that does not answer in time gets 503 + Retry-After (a
      // commit that lands later is found again by retrying with the same Idempotency-Key).
      const { message, created } = await withDeadline(
        enqueueMessage(db, { sessionId, body: text, idempotencyKey }),
        ctx.config.dbTimeoutMs,
      );
      // Stored first, then handed to the runner: a crash in between leaves it pending for the next wake.
      ctx.runner.messageQueued(sessionId);
      reply.code(created ? 202 : 200);
      if (created) reply.header('location', `/v1/sessions/${sessionId}/messages/${message.id}`);
      return presentMessage(message);
    });

    route(app, 'listMessages', async (request) => {
      const { sessionId } = request.params as { sessionId: string };
      const q = request.query as { after: number; limit: number };
      await getSession(db, sessionId);
      const rows = await listMessages(db, { sessionId, after: q.after, limit: q.limit });
      return { items: rows.map(presentMessage), nextAfter: rows.at(-1)?.seq ?? q.after };
    });

    route(app, 'getMessage', async (request) => {
      const { sessionId, messageId } = request.params as { sessionId: string; messageId: string };
      return presentMessage(await getMessage(db, sessionId, messageId));
    });
  };
}
