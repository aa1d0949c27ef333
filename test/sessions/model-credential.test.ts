import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { collectEvents, json, lifecycle, newSession, post } from '../support/sessions.ts';

interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

const NAMES_THE_SETTINGS = /ANTHROPIC_API_KEY.*CLAUDE_CODE_OAUTH_TOKEN.*BERTH_CREDENTIALS_FILE/;

// The credential is checked once a runtime is there (a missing runtime is reported first); no container starts.
const runtime = runtimesUnderTest()[0];

describe.runIf(runtime)('the Claude agent without a model credential', () => {
  let server: TestServer;

  beforeAll(async () => {
    // The default agent (claude); neither ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN nor a credentials file.
    server = await startTestServer('pglite', { BERTH_RUNTIME: runtime });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('makes readyz fail with a check naming the settings to set', async () => {
    const res = await server.api('/readyz');
    const body = await json<Readiness>(res, 503);
    expect(body.ready).toBe(false);
    expect(body.checks.modelCredential!.ok).toBe(false);
    expect(body.checks.modelCredential!.detail).toMatch(NAMES_THE_SETTINGS);
    const anonymous = await json<Readiness>(await fetch(`${server.url}/readyz`), 503);
    expect(anonymous.checks.modelCredential).toEqual({ ok: false });
  });

  it('fails a posted message at once with MODEL_CREDENTIAL_MISSING instead of leaving its caller waiting', async () => {
    const { sessionId } = await newSession(server);
    const accepted = await post(server, sessionId, 'hello');
    expect(accepted.status).toBe('pending');
    // The long-poll returns once the message failed; without the check it would wait out the 30 s.
    const settled = await json<{ status: string; error: string | null }>(
      await server.api(`/v1/sessions/${sessionId}/messages/${accepted.id}?wait=30000`),
      200,
    );
    expect(settled.status).toBe('failed');
    expect(settled.error).toMatch(/^MODEL_CREDENTIAL_MISSING: no model credential/);
    expect(settled.error).toMatch(NAMES_THE_SETTINGS);
    const events = await collectEvents(server, sessionId, (e) => lifecycle(e, 'message_failed').length > 0);
    expect(lifecycle(events, 'message_failed')[0]!.data).toMatchObject({
      messageId: accepted.id,
      reason: settled.error,
    });
    // Nothing was started for it.
    expect(lifecycle(events, 'wake')).toEqual([]);
  });

  it('answers a wake with 503 MODEL_CREDENTIAL_MISSING', async () => {
    const { sessionId } = await newSession(server);
    const res = await server.api(`/v1/sessions/${sessionId}/wake`, { method: 'POST' });
    const problem = await json<{ code: string; detail: string }>(res, 503);
    expect(problem.code).toBe('MODEL_CREDENTIAL_MISSING');
    expect(problem.detail).toMatch(NAMES_THE_SETTINGS);
  });
});
