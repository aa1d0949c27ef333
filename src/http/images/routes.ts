import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { AppError } from '../../errors.ts';
import type { BuildEnd } from '../../images/output.ts';
import type { PackageRequest } from '../../images/validate.ts';
import type { AppContext } from '../context.ts';
import { presentImageBuild } from '../present.ts';
import { route, socketRoute, upgradeRequired } from '../route.ts';

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
          socket.close(1011, 'build output stream failed');
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

/** Most a build-output viewer may lag behind before it is dropped. */
const MAX_BUFFERED = 4 * 1024 * 1024;

async function sendBuildOutput(ctx: AppContext, socket: WebSocket, groupId: string, buildId: string) {
  const send = (frame: object) => {
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > MAX_BUFFERED) socket.close(4008, 'viewer too slow');
    else socket.send(JSON.stringify(frame));
  };
  const live = ctx.images.output(buildId);
  if (live) {
    // The tail is sent and the subscription taken in one synchronous step: no line falls between.
    for (const line of live.lines) send({ type: 'line', line });
    const end = (result: BuildEnd) => {
      send({ type: 'end', ...result });
      socket.close(1000, result.status);
    };
    if (live.ended) return end(live.ended);
    socket.once(
      'close',
      live.subscribe((item) => ('line' in item ? send({ type: 'line', line: item.line }) : end(item.end))),
    );
    return;
  }
  const build = await ctx.images.get(groupId, buildId);
  // The stored tail is the same lines, each ended by a newline.
  const stored = build.outputTail === '' ? [] : build.outputTail.replace(/\n$/, '').split('\n');
  for (const line of stored) send({ type: 'line', line });
  if (build.status === 'queued' || build.status === 'running') {
    socket.close(1013, 'the build runs on another instance; poll GET …/builds/{buildId}');
    return;
  }
  send({ type: 'end', status: build.status, error: build.error });
  socket.close(1000, build.status);
}
