import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { collectEvents, json, newSession, post, replies, until } from '../support/sessions.ts';

const runtime = runtimesUnderTest()[0];

describe.runIf(runtime)('the agent image at first start', () => {
  const tag = `berth-agent:first-start-${randomBytes(4).toString('hex')}`;
  let server: TestServer | undefined;

  afterAll(async () => {
    await server?.close();
    await execa(runtime!, ['rmi', tag], { reject: false });
  });

  it('is built when missing; a message posted meanwhile is answered once it exists', async () => {
    // The inputs are those of the test image, so this build only needs that image's layers.
    await ensureAgentImage(runtime!);
    expect((await execa(runtime!, ['image', 'inspect', tag], { reject: false })).exitCode).not.toBe(0);
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: tag,
      BERTH_AGENT: 'echo',
      BERTH_BUILD_IMAGE: 'true',
    });
    const { sessionId } = await newSession(server);
    const msg = await post(server, sessionId, 'hello after the build');
    const events = await collectEvents(
      server,
      sessionId,
      (e) => replies(e).some((r) => r.data.inReplyTo === msg.id),
      {
        timeoutMs: 300_000,
      },
    );
    expect(replies(events).find((r) => r.data.inReplyTo === msg.id)!.data.text).toBe(
      'echo: hello after the build',
    );
    const ready = await until(async () => {
      const body = await json<{ ready: boolean; checks: { image: { ok: boolean; detail: string } } }>(
        // Details are for key holders; anonymous callers see only ok/not ok.
        await server!.api('/readyz'),
      );
      return body.checks.image.ok ? body : undefined;
    });
    expect(ready.checks.image.detail).toBe(tag);
  }, 320_000);
});
