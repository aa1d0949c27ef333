import type { FastifyInstance } from 'fastify';
import { getGroup } from '../../store/groups.ts';
import {
  createSession,
  deleteSession,
  ensureSession,
  getSession,
  listSessions,
} from '../../store/sessions.ts';
import type { AppContext } from '../context.ts';
import { presentSession } from '../present.ts';
import { page, route } from '../route.ts';
import { groupScope } from '../scope.ts';

export function sessionRoutes(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    const { db } = ctx.store;

    route(app, 'createSession', async (request, reply) => {
      const body = request.body;
      reply.code(201);
      return presentSession(await createSession(db, body));
    });

    route(app, 'ensureSession', async (request, reply) => {
      const { groupId, externalKey } = request.params;
      await getGroup(db, groupId);
      const { session, created } = await ensureSession(db, { groupId, externalKey });
      reply.code(created ? 201 : 200);
      return presentSession(session);
    });

    route(app, 'listSessions', async (request) => {
      const q = request.query;
      const scope = { groupId: q.groupId, groupIds: groupScope(request) };
      const rows = await listSessions(db, { after: q.cursor, limit: q.limit + 1, ...scope });
      return page(rows, q.limit, presentSession);
    });

    route(app, 'getSession', async (request) => {
      const { sessionId } = request.params;
      return presentSession(await getSession(db, sessionId));
    });

    route(app, 'deleteSession', async (request, reply) => {
      const { sessionId } = request.params;
      await getSession(db, sessionId);
      await ctx.runner.stop(sessionId);
      // Its delivered files go with it: rows by cascade, then the content no other session shares.
      const hashes = await ctx.files?.hashesOf(sessionId);
      await deleteSession(db, sessionId);
      if (hashes) await ctx.files?.release(hashes);
      reply.code(204);
    });

    route(app, 'wakeSession', async (request) => {
      const { sessionId } = request.params;
      await getSession(db, sessionId);
      return ctx.runner.wake(sessionId);
    });

    route(app, 'interruptSession', async (request, reply) => {
      const { sessionId } = request.params;
      await getSession(db, sessionId);
      reply.code(202);
      return { interrupted: await ctx.runner.interrupt(sessionId) };
    });

    route(app, 'stopSession', async (request) => {
      const { sessionId } = request.params;
      await getSession(db, sessionId);
      await ctx.runner.stop(sessionId);
      return presentSession(await getSession(db, sessionId));
    });
  };
}
