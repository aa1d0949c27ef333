import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.ts';
import { lastEventSeq } from '../../store/events.ts';
import { getSession } from '../../store/sessions.ts';
import type { AppContext } from '../context.ts';
import { parseKinds } from '../events/routes.ts';
import { socketRoute, upgradeRequired } from '../route.ts';
import { keepalive } from './keepalive.ts';
import { type StreamLimits, Viewer } from './viewer.ts';

export interface StreamOptions {
  /** Ping period; a viewer that misses two pongs in a row is dropped. */
  pingIntervalMs?: number;
  limits?: Partial<StreamLimits>;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  socketHighWater: 512 * 1024,
  maxFrames: 2000,
  maxBytes: 8 * 1024 * 1024,
  maxHeldRows: 10_000,
  pageSize: 500,
};

/** `GET /v1/sessions/{id}/stream`: a session's events over WebSocket, replayed from a cursor, then live. */
export function streamRoutes(ctx: AppContext, opts: StreamOptions = {}) {
  const limits = { ...DEFAULT_STREAM_LIMITS, ...opts.limits };
  return async (app: FastifyInstance) => {
    const pings = keepalive(opts.pingIntervalMs ?? 30_000);
    app.addHook('onClose', async () => pings.stop());

    socketRoute(app, 'streamEvents', {
      // Runs before the upgrade, so an unknown session or a cursor past the end is a plain HTTP error.
      async preHandler(request) {
        const { sessionId } = request.params;
        const { after } = request.query;
        const session = await getSession(ctx.store.db, sessionId);
        if (after !== undefined && after > session.eventSeq)
          throw new AppError(
            'CURSOR_OUT_OF_RANGE',
            `after=${after} is past the session's last event (${session.eventSeq})`,
          );
      },
      http: upgradeRequired,
      socket(socket, request) {
        const { sessionId } = request.params;
        const { after, kinds } = request.query;
        pings.watch(socket);
        new Viewer(
          socket,
          { sessionId, after, kinds: parseKinds(kinds) },
          {
            events: ctx.events,
            head: (id) => lastEventSeq(ctx.store.db, id),
            limits,
            log: request.log,
          },
        ).start();
      },
    });
  };
}
