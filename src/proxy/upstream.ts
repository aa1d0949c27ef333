import http from 'node:http';
import https from 'node:https';

export function parseUpstream(upstream: string | URL): URL {
  const url = new URL(upstream);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`proxy upstream must be http or https, got ${url.protocol}`);
  }
  return url;
}

/** One keep-alive pool per placeholder: an upstream connection never carries two sessions' requests. */
export class UpstreamPools {
  readonly #agents = new Map<string, http.Agent>();
  readonly #https: boolean;
  readonly #ca: string | Buffer | undefined;

  constructor(upstream: URL, ca: string | Buffer | undefined) {
    this.#https = upstream.protocol === 'https:';
    this.#ca = ca;
  }

  for(token: string): http.Agent {
    let agent = this.#agents.get(token);
    if (!agent) {
      agent = this.#https
        ? new https.Agent({ keepAlive: true, ...(this.#ca ? { ca: this.#ca } : {}) })
        : new http.Agent({ keepAlive: true });
      this.#agents.set(token, agent);
    }
    return agent;
  }

  drop(token: string): void {
    this.#agents.get(token)?.destroy();
    this.#agents.delete(token);
  }

  dropAll(): void {
    for (const token of [...this.#agents.keys()]) this.drop(token);
  }
}
