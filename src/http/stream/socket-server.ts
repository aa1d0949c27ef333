import type { FastifyInstance } from 'fastify';
import { SUBPROTOCOL, SUBPROTOCOL_BATCH } from './protocol.ts';
import { CLOSE } from './socket.ts';

/** How long viewers get to answer the 1001 close before their sockets are cut. */
const SHUTDOWN_GRACE_MS = 2000;

/**
 * `handleProtocols` for the WebSocket server: the batching protocol when offered, else `berth.v1`;
 * a `bearer.<token>` offer carries a secret and is never echoed.
 */
export function selectProtocol(protocols: Set<string>): string | false {
  if (protocols.has(SUBPROTOCOL_BATCH)) return SUBPROTOCOL_BATCH;
  return protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false;
}

/** `preClose` for @fastify/websocket: every socket is closed with 1001 (going away) before the server stops. */
export async function closeSocketsGoingAway(this: FastifyInstance): Promise<void> {
  const wss = this.websocketServer;
  for (const client of wss.clients) client.close(CLOSE.GOING_AWAY, 'server shutting down');
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      for (const client of wss.clients) client.terminate();
    }, SHUTDOWN_GRACE_MS);
    timer.unref();
    wss.close(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
