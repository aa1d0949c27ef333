import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/db.ts';
import { type FakeModel, startFakeModel } from '../support/fake-model.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import {
  type ApiEvent,
  collectEvents,
  json,
  lifecycle,
  newSession,
  post,
  replies,
} from '../support/sessions.ts';

const REAL_KEY = 'sk-ant-real-key-for-metering-tests';
const USAGE = {
  input_tokens: 2048,
  output_tokens: 77,
  cache_creation_input_tokens: 512,
  cache_read_input_tokens: 4096,
};
const TOKENS = 2048 + 77 + 512 + 4096;
// The agent's default model, claude-sonnet-4-5: 3 / 15 / 3.75 / 0.30 USD per million tokens; kept in whole micro-USD.
const COST_USD = Math.round(3 * 2048 + 15 * 77 + 3.75 * 512 + 0.3 * 4096) / 1e6;

interface ModelUsage {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
  costUsd: number;
}

// The echo agent's `!fetch` hook makes one Messages API call through the proxy with the run's placeholder.
const CALL = (model: string) =>
  `!fetch POST /v1/messages {"model":"${model}","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`;

/** Posts a model call from inside the container and returns what the proxy answered it (status, then body). */
async function turn(server: TestServer, sessionId: string, text: string) {
  const msg = await post(server, sessionId, text);
  const settled = (e: ApiEvent[]) => replies(e).some((r) => r.data.inReplyTo === msg.id);
  const events = await collectEvents(server, sessionId, settled, { timeoutMs: 60_000 });
  const reply = replies(events).find((r) => r.data.inReplyTo === msg.id)!.data.text as string;
  return { events, reply };
}

const usageOf = async (server: TestServer, path: string) =>
  (await json<{ modelUsage: ModelUsage }>(await server.api(path), 200)).modelUsage;

describe.each(runtimesUnderTest())('metered model access on %s', (runtime) => {
  let server: TestServer;
  let model: FakeModel;

  beforeAll(async () => {
    const image = await ensureAgentImage(runtime);
    model = await startFakeModel({ expectedKey: REAL_KEY, usage: USAGE, reply: 'metered answer' });
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_PROJECT_ROOT: tempDir('berth-metering-project-'),
      BERTH_STOP_GRACE_MS: '1000',
      BERTH_PROXY_UPSTREAM: model.url,
      ANTHROPIC_API_KEY: REAL_KEY,
    });
  });

  afterAll(async () => {
    await server?.close();
    await model?.close();
  });

  it('adds a response’s exact tokens to the session and group; at the cap the next turn fails with a 429 problem', async () => {
    const { groupId, sessionId } = await newSession(server, {
      containerConfig: { models: { tokensPerDay: TOKENS } },
    });
    const first = await turn(server, sessionId, CALL('claude-sonnet-4-5'));
    expect(first.reply.split('\n')[0]).toBe('200');
    const usage = lifecycle(
      await collectEvents(server, sessionId, (e) => lifecycle(e, 'usage').length > 0),
      'usage',
    );
    expect(usage[0]!.data).toEqual({
      type: 'usage',
      model: 'claude-sonnet-4-5',
      status: 200,
      inputTokens: 2048,
      outputTokens: 77,
      cacheCreationInputTokens: 512,
      cacheReadInputTokens: 4096,
      costUsd: COST_USD,
    });
    const exact = {
      requests: 1,
      inputTokens: 2048,
      outputTokens: 77,
      cacheCreationInputTokens: 512,
      cacheReadInputTokens: 4096,
      costUsd: COST_USD,
    };
    expect(await usageOf(server, `/v1/sessions/${sessionId}`)).toEqual(exact);
    expect(await usageOf(server, `/v1/groups/${groupId}`)).toEqual(exact);

    // The group used exactly its tokensPerDay: the proxy refuses the next call before the model sees it.
    const calls = model.requests.length;
    const second = await turn(server, sessionId, CALL('claude-sonnet-4-5'));
    expect(second.reply.split('\n')[0]).toBe('429');
    expect(second.reply).toMatch(/MODEL_CAP_EXCEEDED[\s\S]*tokensPerDay/);
    expect(model.requests.length).toBe(calls);
    expect(await usageOf(server, `/v1/groups/${groupId}`)).toEqual(exact);
  });

  it('refuses a model not on the group allowlist; the turn fails with MODEL_NOT_ALLOWED', async () => {
    const { sessionId } = await newSession(server, {
      containerConfig: { models: { allow: ['claude-haiku-4-5*'] } },
    });
    const calls = model.requests.length;
    const { reply } = await turn(server, sessionId, CALL('claude-sonnet-4-5'));
    expect(reply.split('\n')[0]).toBe('403');
    expect(reply).toMatch(/MODEL_NOT_ALLOWED[\s\S]*claude-sonnet-4-5/);
    expect(model.requests.length).toBe(calls);
    expect((await usageOf(server, `/v1/sessions/${sessionId}`)).requests).toBe(0);
  });

  it('validates the model rules of a group', async () => {
    const res = await server.api('/v1/groups', {
      method: 'POST',
      json: {
        name: 'bad',
        folder: 'bad-models',
        containerConfig: { models: { allow: ['no spaces'], tokensPerDay: -1 } },
      },
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('VALIDATION_FAILED');
  });
});
