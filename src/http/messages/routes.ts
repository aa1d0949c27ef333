import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { type Metrics, noMetrics } from '../../metrics.ts';
import { repliesTo } from '../../store/events.ts';
import { enqueueMessage, listMessages } from '../../store/messages.ts';
import { withDeadline } from '../../store/retry.ts';
import { getSession } from '../../store/sessions.ts';
import type { AppContext } from '../context.ts';
import { presentEvent, presentMessage } from '../present.ts';
import { route } from '../route.ts';
import { messageBodyLimit, prepareMessage } from './attachments.ts';
import { waitForMessage } from './wait.ts';

export function messageRoutes(ctx: AppContext, metrics: Metrics = noMetrics) {
  return async (app: FastifyInstance) => {
    const { db } = ctx.store;
    // Attachments arrive base64 in the JSON body: this route alone takes bodies past the app-wide limit.
    app.addHook('onRoute', (opts) => {
      if ((opts.config as { operationId?: string })?.operationId === 'postMessage')
        opts.bodyLimit = messageBodyLimit(ctx.config);
    });

    route(app, 'postMessage', async (request, reply) => {
      const { sessionId } = request.params;
      const { text, attachments } = request.body;
      const idempotencyKey = request.headers['idempotency-key'];
      // Attachments are on disk before the message exists; its text lists their paths.
      const prepared = await prepareMessage({ config: ctx.config, db }, sessionId, text, attachments);
      // 202 only once committed; a database that does not answer in time gets 503 + Retry-After (a
      // commit that lands later is found again by retrying with the same Idempotency-Key).
      const { message, created } = await withDeadline(
        enqueueMessage(db, {
          sessionId,
          body: prepared.body,
          idempotencyKey,
          requestHash: bodyHash(request.body),
          id: prepared.id,
        }),
        ctx.config.dbTimeoutMs,
      ).catch((err) => prepared.failed(err));
      if (!created) await prepared.discard();
      // Stored first, then handed to the runner: a crash in between leaves it pending for the next wake.
      ctx.runner.messageQueued(sessionId);
      reply.code(created ? 202 : 200);
      if (created) {
        metrics.messages('accepted', 1);
        reply.header('location', `/v1/sessions/${sessionId}/messages/${message.id}`);
      }
      return presentMessage(message);
    });

    route(app, 'listMessages', async (request) => {
      const { sessionId } = request.params;
      const q = request.query;
      await getSession(db, sessionId);
      const rows = await listMessages(db, { sessionId, after: q.after, limit: q.limit });
      return { items: rows.map(presentMessage), nextAfter: rows.at(-1)?.seq ?? q.after };
    });

    route(app, 'getMessage', async (request, reply) => {
      const { sessionId, messageId } = request.params;
      const abort = new AbortController();
      // The response's close fires when the client goes away (the request's fires once its body is read).
      reply.raw.once('close', () => abort.abort());
      const message = await waitForMessage(
        db,
        ctx.events,
        { sessionId, messageId },
        request.query.wait,
        abort.signal,
      );
      const replies = await repliesTo(db, sessionId, messageId);
      return { ...presentMessage(message), replies: replies.map(presentEvent) };
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
