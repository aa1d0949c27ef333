import { type FakeModel, startFakeModel } from './fake-model.ts';
import { ensureAgentImage } from './image.ts';
import type { TestRuntime } from './runtimes.ts';
import { startTestServer, type TestServer } from './server.ts';

/** berth running the real Claude agent on `runtime`, its model calls answered by a scripted fake. */
export async function startClaudeServer(
  runtime: TestRuntime,
  realKey: string,
): Promise<{ server: TestServer; model: FakeModel }> {
  const image = await ensureAgentImage(runtime);
  const model = await startFakeModel({ expectedKey: realKey, chunkDelayMs: 1 });
  const server = await startTestServer('pglite', {
    BERTH_RUNTIME: runtime,
    BERTH_IMAGE: image,
    BERTH_AGENT: 'claude',
    BERTH_AGENT_MAX_RETRIES: '0',
    BERTH_STOP_GRACE_MS: '1000',
    BERTH_PROXY_UPSTREAM: model.url,
    ANTHROPIC_API_KEY: realKey,
  });
  return { server, model };
}

/** berth running the echo agent (no model) on `runtime`, with any further settings in `env`. */
export async function startEchoServer(
  runtime: TestRuntime,
  env: Record<string, string> = {},
): Promise<TestServer> {
  const image = await ensureAgentImage(runtime);
  return startTestServer('pglite', {
    BERTH_RUNTIME: runtime,
    BERTH_IMAGE: image,
    BERTH_AGENT: 'echo',
    ...env,
  });
}
