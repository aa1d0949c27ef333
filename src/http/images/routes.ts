import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { AppError } from '../../errors.ts';
import type { BuildEnd } from '../../images/output.ts';
import { getGroup } from '../../store/groups.ts';
import { listImageBuilds } from '../../store/image-builds.ts';
import type { AppContext } from '../context.ts';
import { presentImageBuild } from '../present.ts';
import { page, route, socketRoute, upgradeRequired } from '../route.ts';
import { ByteBudget } from '../stream/outbox.ts';
import { CLOSE, frameSender } from '../stream/socket.ts';

export function imageRoutes(ctx: AppContext) {
  return async (app: FastifyInstance) => {
    route(app, 'buildGroupImage', async (request, reply) => {
      const { groupId } = request.params;
      const { build, reused } = await ctx.images.request(groupId, request.body);
      reply.code(reused ? 200 : 202);
      if (!reused) reply.header('location', `/v1/groups/${groupId}/image/builds/${build.id}`);
      return presentImageBuild(build);
    });

    route(app, 'clearGroupImage', async (request, reply) => {
      const { groupId } = request.params;
      await ctx.images.clear(groupId);
      reply.code(204);
    });

    route(app, 'listImageBuilds', async (request) => {
      const { groupId } = request.params;
      const { cursor, limit } = request.query;
      await getGroup(ctx.store.db, groupId);
      const rows = await listImageBuilds(ctx.store.db, groupId, { before: cursor, limit: limit + 1 });
      return page(rows, limit, (b) => presentImageBuild(b));
    });

    route(app, 'getImageBuild', async (request) => {
      const { groupId, buildId } = request.params;
      return presentImageBuild(await ctx.images.get(groupId, buildId));
    });

    socketRoute(app, 'streamImageBuildOutput', {
      // Before the upgrade, so an unknown build is a plain 404.
      async preHandler(request) {
        const { groupId, buildId } = request.params;
        await ctx.images.get(groupId, buildId);
      },
      http: upgradeRequired,
      socket(socket, request) {
        const { groupId, buildId } = request.params;
        void sendBuildOutput(ctx, socket, groupId, buildId).catch((err) => {
          request.log.warn({ err, buildId }, 'build output stream failed');
          socket.close(CLOSE.INTERNAL_ERROR, 'build output stream failed');
        });
      },
    });

    route(app, 'cancelImageBuild', async (request) => {
      const { groupId, buildId } = request.params;
      const { build, cancelled } = await ctx.images.cancel(groupId, buildId);
      if (!cancelled)
        throw new AppError('IMAGE_BUILD_FINISHED', `image build ${buildId} already ended (${build.status})`);
      return presentImageBuild(build);
    });
  };
}

/** Build output is small (a 64 KiB tail, then lines): a viewer may lag by a few MiB before it is dropped. */
const BUILD_VIEWER_LIMITS = { socketHighWater: 1024 * 1024, maxFrames: 10_000, maxBytes: 4 * 1024 * 1024 };
/** What all build-output viewers together may hold unsent. */
const buildViewers = new ByteBudget(32 * 1024 * 1024);

async function sendBuildOutput(ctx: AppContext, socket: WebSocket, groupId: string, buildId: string) {
  const out = frameSender(socket, BUILD_VIEWER_LIMITS, buildViewers);
  const live = ctx.images.output(buildId);
  if (live) {
    // The tail is sent and the subscription taken in one synchronous step: no line falls between.
    for (const line of live.lines) out.send({ type: 'line', line });
    const end = (result: BuildEnd) => {
      out.send({ type: 'end', ...result });
      void out.end(CLOSE.NORMAL, result.status);
    };
    if (live.ended) return end(live.ended);
    socket.once(
      'close',
      live.subscribe((item) =>
        'line' in item ? out.send({ type: 'line', line: item.line }) : end(item.end),
      ),
    );
    return;
  }
  const build = await ctx.images.get(groupId, buildId);
  // The stored tail is the same lines, each ended by a newline.
  const stored = build.outputTail === '' ? [] : build.outputTail.replace(/\n$/, '').split('\n');
  for (const line of stored) out.send({ type: 'line', line });
  if (build.status === 'queued' || build.status === 'running') {
    await out.end(CLOSE.TRY_AGAIN_LATER, 'the build runs on another instance; poll GET …/builds/{buildId}');
    return;
  }
  out.send({ type: 'end', status: build.status, error: build.error });
  await out.end(CLOSE.NORMAL, build.status);
}
