import { createHash, randomBytes } from 'node:crypto';

export interface TrafficStats {
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

/** Prefix that marks a value as a berth placeholder, never a real credential. */
export const PLACEHOLDER_PREFIX = 'berth-ph-';

export interface Grant {
  sessionId: string;
  /** The run the placeholder was issued to, when the issuer said. */
  generation: number | undefined;
  add(field: keyof TrafficStats, amount: number): void;
}

interface Entry {
  sessionId: string;
  generation: number | undefined;
  run: TrafficStats;
}

const zero = (): TrafficStats => ({ requests: 0, bytesIn: 0, bytesOut: 0 });

// Tokens are kept only as hashes so lookups never compare secret strings character by character.
const digest = (token: string): string => createHash('sha256').update(token).digest('base64url');

/** Live placeholder tokens and their traffic, per token (one run) and per session (all runs). */
export class TokenRegistry {
  readonly #live = new Map<string, Entry>();
  readonly #sessions = new Map<string, TrafficStats>();

  issue(sessionId: string, generation?: number): string {
    const token = `${PLACEHOLDER_PREFIX}${randomBytes(32).toString('base64url')}`;
    this.#live.set(digest(token), { sessionId, generation, run: zero() });
    if (!this.#sessions.has(sessionId)) this.#sessions.set(sessionId, zero());
    return token;
  }

  lookup(token: string): Grant | undefined {
    if (!token.startsWith(PLACEHOLDER_PREFIX)) return undefined;
    const entry = this.#live.get(digest(token));
    if (!entry) return undefined;
    const session = this.#sessions.get(entry.sessionId)!;
    return {
      sessionId: entry.sessionId,
      generation: entry.generation,
      add: (field, amount) => {
        entry.run[field] += amount;
        session[field] += amount;
      },
    };
  }

  /** Returns the traffic of that token's run, or undefined when it was not live. */
  revoke(token: string): TrafficStats | undefined {
    const key = digest(token);
    const entry = this.#live.get(key);
    if (!entry) return undefined;
    this.#live.delete(key);
    return { ...entry.run };
  }

  stats(sessionId: string): TrafficStats {
    return { ...(this.#sessions.get(sessionId) ?? zero()) };
  }

  clear(): void {
    this.#live.clear();
  }
}
