import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import postgres from 'postgres';
import { type Config, loadConfig } from '../../src/config.ts';
import { createServer, type Server } from '../../src/server.ts';
import type { Store } from '../../src/store/db.ts';

// Free of vitest imports: the benchmarks start the service with this too.

export interface RunningService extends Server {
  config: Config;
  url: string;
  token: string;
  dataDir: string;
  /** fetch against the service with the bearer token set; `json` becomes the body. */
  api(path: string, init?: RequestInit & { json?: unknown }): Promise<Response>;
}

/**
 * The real service on 127.0.0.1:0 with a fresh data dir, no extra mounts and a fixed token.
 * `env` takes the same variables as production (BERTH_RUNTIME, DATABASE_URL, …); `store` replaces
 * the database the configuration names.
 */
export async function startService(
  env: Record<string, string | undefined> = {},
  opts: { store?: Store; prefix?: string } = {},
): Promise<RunningService> {
  const dataDir = mkdtempSync(path.join(tmpdir(), opts.prefix ?? 'berth-data-'));
  const config = loadConfig({
    BERTH_DATA_DIR: dataDir,
    BERTH_PORT: '0',
    BERTH_API_TOKEN: 'test-token',
    BERTH_LOG_LEVEL: 'silent',
    BERTH_MOUNT_ALLOWLIST: path.join(dataDir, 'no-allowlist.json'),
    BERTH_PROJECT_ROOT: dataDir,
    // The suites drive the echo agent through its `!` hooks.
    BERTH_AGENT_TEST_HOOKS: '1',
    // Tests name images they built; a missing one must not start a background build.
    BERTH_BUILD_IMAGE: 'false',
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    // The machine's TLS trust, which host-side npm installs need behind an intercepting proxy.
    NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS,
    SSL_CERT_FILE: process.env.SSL_CERT_FILE,
    SSL_CERT_DIR: process.env.SSL_CERT_DIR,
    ...env,
  });
  const server = await createServer(config, opts.store ? { store: opts.store } : {});
  await server.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = server.app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return Object.assign(server, {
    config,
    url,
    token: server.apiToken,
    dataDir,
    api(p: string, init: RequestInit & { json?: unknown } = {}) {
      const { json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${server.apiToken}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(`${url}${p}`, {
        ...rest,
        headers,
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
    },
  });
}

/** A new empty database on the PostgreSQL server at `baseUrl`; returns its URL. */
export async function createDatabase(baseUrl: string, prefix = 't'): Promise<string> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(baseUrl, { onnotice: () => {}, max: 1 });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
