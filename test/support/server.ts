import { type DbKind, freshStore } from './db.ts';
import { type RunningService, startService } from './service.ts';

export type TestServer = RunningService;

/**
 * The real service on 127.0.0.1 with a fresh database of the given kind and a fresh data dir.
 * With DATABASE_URL in `env` the server opens that database itself, as in production (restart tests).
 */
export async function startTestServer(
  kind: DbKind,
  env: Record<string, string | undefined> = {},
): Promise<TestServer> {
  const store = env.DATABASE_URL ? undefined : await freshStore(kind);
  return startService(env, store ? { store } : {});
}
