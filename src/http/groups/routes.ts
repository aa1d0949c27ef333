import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../../metrics.ts';
import { createGroup, deleteGroup, getGroup, listGroups, updateGroup } from '../../store/groups.ts';
import type { ContainerConfig, GroupRow } from '../../store/schema.ts';
import { sessionIdsOfGroup } from '../../store/sessions.ts';
import type { AppContext } from '../context.ts';
import { presentGroup } from '../present.ts';
import { page, route } from '../route.ts';
import { groupScope } from '../scope.ts';

export function groupRoutes(
  ctx: AppContext,
  validateConfig: (trust: GroupRow['trust'], c: ContainerConfig) => Promise<void>,
  metrics: Pick<Metrics, 'groupDeleted'>,
) {
  return async (app: FastifyInstance) => {
    const { db } = ctx.store;

    route(app, 'createGroup', async (request, reply) => {
      const body = request.body;
      await validateConfig(body.trust, body.containerConfig ?? {});
      reply.code(201);
      return presentGroup(await createGroup(db, body));
    });

    route(app, 'listGroups', async (request) => {
      const q = request.query;
      const rows = await listGroups(db, { after: q.cursor, limit: q.limit + 1, ids: groupScope(request) });
      return page(rows, q.limit, presentGroup);
    });

    route(app, 'getGroup', async (request) => {
      const { groupId } = request.params;
      return presentGroup(await getGroup(db, groupId));
    });

    route(app, 'updateGroup', async (request) => {
      const { groupId } = request.params;
      const patch = request.body;
      const current = await getGroup(db, groupId);
      await validateConfig(patch.trust ?? current.trust, patch.containerConfig ?? current.containerConfig);
      return presentGroup(await updateGroup(db, groupId, patch));
    });

    route(app, 'deleteGroup', async (request, reply) => {
      const { groupId } = request.params;
      await getGroup(db, groupId);
      await Promise.all((await sessionIdsOfGroup(db, groupId)).map((id) => ctx.runner.stop(id)));
      await deleteGroup(db, groupId);
      metrics.groupDeleted(groupId);
      reply.code(204);
    });
  };
}
