import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { enqueueMessage, getMessage, listMessages } from '../../store/messages.ts';
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
      const { message, created } = await enqueueMessage(db, {
        sessionId,
        body: text,
        idempotencyKey,
        requestHash: bodyHash(request.body),
      });
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

/** Hash of the validated body with sorted keys, so key order does not make two equal requests differ. */
function bodyHash(body: unknown): string {
  const canonical = (v: unknown): unknown =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
        )
      : v;
  return createHash('sha256')
    .update(JSON.stringify(canonical(body)))
    .digest('hex');
}
