import type { AddressInfo } from 'node:net';
import process from 'node:process';
import { type Config, loadConfig } from '../../src/config.ts';
import { createServer, type Server } from '../../src/server.ts';
import { type DbKind, freshStore, tempDir } from './db.ts';

export interface TestServer extends Server {
  config: Config;
  url: string;
  token: string;
  /** fetch against the server with the bearer token set. */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
}

/**
 * The real service on 127.0.0.1 with a fresh database of the given kind and a fresh data dir.
 * `env` takes the same variables as production (BERTH_RUNTIME, BERTH_IMAGE, …).
 */
export async function startTestServer(
  kind: DbKind,
  env: Record<string, string | undefined> = {},
): Promise<TestServer> {
  const dataDir = tempDir('berth-data-');
  const config = loadConfig({
    BERTH_DATA_DIR: dataDir,
    BERTH_PORT: '0',
    BERTH_API_TOKEN: 'test-token',
    BERTH_LOG_LEVEL: 'silent',
    BERTH_MOUNT_ALLOWLIST: `${dataDir}/../no-allowlist-${Date.now()}.json`,
    BERTH_PROJECT_ROOT: dataDir,
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...env,
  });
  // With DATABASE_URL the server opens the database itself, as in production (restart tests).
  const store = config.databaseUrl ? undefined : await freshStore(kind);
  const server = await createServer(config, store ? { store } : {});
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = server.app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return Object.assign(server, {
    config,
    url,
    token: server.apiToken,
    api(path: string, init: RequestInit & { json?: unknown } = {}) {
      const { json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${server.apiToken}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${url}${path}`, {
        ...rest,
        headers,
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
    },
  });
}
