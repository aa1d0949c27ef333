import type { FastifyInstance } from 'fastify';
import { AppError } from '../../errors.ts';
import { lastEventSeq } from '../../store/events.ts';
import { getSession } from '../../store/sessions.ts';
import type { AppContext } from '../context.ts';
import { parseKinds } from '../events/routes.ts';
import { socketRoute, upgradeRequired } from '../route.ts';
import { keepalive } from './keepalive.ts';
import { ByteBudget } from './outbox.ts';
import { SUBPROTOCOL_BATCH } from './protocol.ts';
import { CLOSE } from './socket.ts';
import { type StreamLimits, Viewer } from './viewer.ts';
import { ViewerCaps } from './viewer-caps.ts';

/** Viewers are counted per API key (the bootstrap token is one key). */
const viewerKey = (request: { principal: { actor: string } | null }) =>
  request.principal?.actor ?? 'anonymous';

export interface StreamOptions {
  /** Ping period; a viewer that misses two pongs in a row is dropped. */
  pingIntervalMs?: number;
  limits?: Partial<StreamLimits>;
}

// Per viewer at most ~2.1 MiB (socket high water + queue), and queues of all viewers together 32 MiB.
export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  socketHighWater: 128 * 1024,
  maxFrames: 1000,
  maxBytes: 2 * 1024 * 1024,
  maxHeldRows: 5000,
  pageSize: 256,
  totalBytes: 32 * 1024 * 1024,
};

/** `GET /v1/sessions/{id}/stream`: a session's events over WebSocket, replayed from a cursor, then live. */
export function streamRoutes(ctx: AppContext, opts: StreamOptions = {}) {
  const limits = { ...DEFAULT_STREAM_LIMITS, ...opts.limits };
  const budget = new ByteBudget(limits.totalBytes);
  const caps = new ViewerCaps(ctx.config.maxViewersPerSession, ctx.config.maxViewersPerKey);
  return async (app: FastifyInstance) => {
    const pings = keepalive(opts.pingIntervalMs ?? 30_000);
    app.addHook('onClose', async () => pings.stop());

    socketRoute(app, 'streamEvents', {
      // Runs before the upgrade, so an unknown session or a cursor past the end is a plain HTTP error.
      async preHandler(request) {
        const { sessionId } = request.params;
        const { after } = request.query;
        const session = await getSession(ctx.store.db, sessionId);
        const full = caps.refusal(sessionId, viewerKey(request));
        if (full) throw new AppError('TOO_MANY_VIEWERS', full);
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
        const release = caps.take(sessionId, viewerKey(request));
        // Viewers that raced past the check above: the cap still holds.
        if (!release) return socket.close(CLOSE.TRY_AGAIN_LATER, 'too many viewers; try again later');
        socket.once('close', release);
        pings.watch(socket);
        new Viewer(
          socket,
          { sessionId, after, kinds: parseKinds(kinds), batch: socket.protocol === SUBPROTOCOL_BATCH },
          {
            events: ctx.events,
            head: (id) => lastEventSeq(ctx.store.db, id),
            limits,
            budget,
            log: request.log,
          },
        ).start();
      },
    });
  };
}
