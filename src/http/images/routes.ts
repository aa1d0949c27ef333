import type { FastifyInstance } from 'fastify';
import { ConflictError } from '../../errors.ts';
import type { PackageRequest } from '../../runner/images/validate.ts';
import type { AppContext } from '../context.ts';
import { presentImageBuild } from '../present.ts';
import { route } from '../route.ts';

type BuildParams = { groupId: string; buildId: string };

export function imageRoutes(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    route(app, 'buildGroupImage', async (request, reply) => {
      const { groupId } = request.params as { groupId: string };
      const { build, reused } = await ctx.images.request(groupId, request.body as Partial<PackageRequest>);
      reply.code(reused ? 200 : 202);
      if (!reused) reply.header('location', `/v1/groups/${groupId}/image/builds/${build.id}`);
      return presentImageBuild(build);
    });

    route(app, 'clearGroupImage', async (request, reply) => {
      const { groupId } = request.params as { groupId: string };
      await ctx.images.clear(groupId);
      reply.code(204);
    });

    route(app, 'getImageBuild', async (request) => {
      const { groupId, buildId } = request.params as BuildParams;
      return presentImageBuild(await ctx.images.get(groupId, buildId));
    });

    route(app, 'cancelImageBuild', async (request) => {
      const { groupId, buildId } = request.params as BuildParams;
      const { build, cancelled } = await ctx.images.cancel(groupId, buildId);
      if (!cancelled)
        throw new ConflictError(
          'IMAGE_BUILD_FINISHED',
          `image build ${buildId} already ended (${build.status})`,
        );
      return presentImageBuild(build);
    });
  };
}
