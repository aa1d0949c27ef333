/** Counts open viewers per session and per API key, so neither can hold unbounded sockets and buffers. */
export class ViewerCaps {
  readonly #perSession = new Map<string, number>();
  readonly #perKey = new Map<string, number>();
  readonly #maxPerSession: number;
  readonly #maxPerKey: number;

  constructor(maxPerSession: number, maxPerKey: number) {
    this.#maxPerSession = maxPerSession;
    this.#maxPerKey = maxPerKey;
  }

  /** Why one more viewer would be refused, or undefined when it fits. */
  refusal(sessionId: string, key: string): string | undefined {
    if ((this.#perSession.get(sessionId) ?? 0) >= this.#maxPerSession)
      return `session ${sessionId} already has ${this.#maxPerSession} viewers (BERTH_MAX_VIEWERS_PER_SESSION)`;
    if ((this.#perKey.get(key) ?? 0) >= this.#maxPerKey)
      return `this API key already holds ${this.#maxPerKey} viewers (BERTH_MAX_VIEWERS_PER_KEY)`;
    return undefined;
  }

  /** Takes a place for a viewer; the returned function gives it back once (undefined: no place left). */
  take(sessionId: string, key: string): (() => void) | undefined {
    if (this.refusal(sessionId, key) !== undefined) return undefined;
    bump(this.#perSession, sessionId, 1);
    bump(this.#perKey, key, 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      bump(this.#perSession, sessionId, -1);
      bump(this.#perKey, key, -1);
    };
  }
}

function bump(map: Map<string, number>, key: string, by: number): void {
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}
