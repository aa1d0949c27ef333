import type { FastifyInstance } from 'fastify';
import { deleteSchedule, getSchedule, listSchedules } from '../../store/schedules.ts';
import { getSession } from '../../store/sessions.ts';
import type { AppContext } from '../context.ts';
import { presentSchedule } from '../present.ts';
import { page, route } from '../route.ts';
import { groupScope } from '../scope.ts';

export function scheduleRoutes(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    const { db } = ctx.store;

    route(app, 'createSchedule', async (request, reply) => {
      const { sessionId } = request.params;
      const schedule = await ctx.schedules.create(sessionId, request.body);
      reply.code(201).header('location', `/v1/sessions/${sessionId}/schedules/${schedule.id}`);
      return presentSchedule(schedule);
    });

    route(app, 'listSessionSchedules', async (request) => {
      const { sessionId } = request.params;
      const q = request.query;
      await getSession(db, sessionId);
      const rows = await listSchedules(db, { sessionId, cursor: q.cursor, limit: q.limit + 1 });
      return page(rows, q.limit, presentSchedule);
    });

    route(app, 'listSchedules', async (request) => {
      const q = request.query;
      // A key limited to groups sees only their schedules (a groupId outside them was refused before).
      const groupIds = groupScope(request);
      const rows = await listSchedules(db, {
        groupId: q.groupId,
        ...(groupIds ? { groupIds } : {}),
        cursor: q.cursor,
        limit: q.limit + 1,
      });
      return page(rows, q.limit, presentSchedule);
    });

    route(app, 'getSchedule', async (request) => {
      const { sessionId, scheduleId } = request.params;
      return presentSchedule(await getSchedule(db, sessionId, scheduleId));
    });

    route(app, 'updateSchedule', async (request) => {
      const { sessionId, scheduleId } = request.params;
      return presentSchedule(await ctx.schedules.update(sessionId, scheduleId, request.body));
    });

    route(app, 'deleteSchedule', async (request, reply) => {
      const { sessionId, scheduleId } = request.params;
      await deleteSchedule(db, sessionId, scheduleId);
      reply.code(204);
    });
  };
}
