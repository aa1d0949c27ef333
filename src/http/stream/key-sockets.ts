import type { WebSocket } from 'ws';
import type { Principal } from '../auth.ts';

/** Close code for a socket whose key was revoked or expired (documented in openapi.yaml). */
export const CLOSE_KEY_INVALID = 4001;
// setTimeout's longest delay; later expiries re-arm the timer.
const MAX_DELAY_MS = 2 ** 31 - 1;

declare module 'fastify' {
  interface FastifyInstance {
    keySockets: KeySockets;
  }
}

/** The open WebSockets of each API key, so a revoked or expired key loses its streams at once. */
export class KeySockets {
  readonly #byKey = new Map<string, Set<WebSocket>>();

  track(socket: WebSocket, principal: Principal | null): void {
    const keyId = principal?.keyId;
    if (!keyId) return;
    let set = this.#byKey.get(keyId);
    if (!set) {
      set = new Set();
      this.#byKey.set(keyId, set);
    }
    set.add(socket);
    let timer: NodeJS.Timeout | undefined;
    const expiresAt = principal.expiresAt?.getTime();
    const arm = () => {
      if (expiresAt === undefined) return;
      const delay = expiresAt - Date.now();
      if (delay <= 0) socket.close(CLOSE_KEY_INVALID, 'key expired');
      else timer = setTimeout(arm, Math.min(delay, MAX_DELAY_MS));
    };
    arm();
    socket.once('close', () => {
      clearTimeout(timer);
      set.delete(socket);
      if (set.size === 0 && this.#byKey.get(keyId) === set) this.#byKey.delete(keyId);
    });
  }

  /** Closes every socket of the key; returns how many there were. */
  revoke(keyId: string): number {
    const set = this.#byKey.get(keyId);
    if (!set) return 0;
    this.#byKey.delete(keyId);
    for (const socket of set) socket.close(CLOSE_KEY_INVALID, 'key revoked');
    return set.size;
  }
}
