import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/db.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { type ApiEvent, newSession, post } from '../support/sessions.ts';

/** Wakes per runtime, and the wall-clock budget they must fit in: both bound the loop (a busy machine does fewer). */
const MAX_WAKES = 300;
const BUDGET_MS = 45_000;
const PARALLEL = 6;

/** The attacker: with the allowed root mounted read-write, swap the victim's directory for a link to /etc, forever. */
const SWAP_LOOP =
  'i=0; while [ $i -lt 1000000 ]; do mv /r/sub /r/hold; ln -s /etc /r/sub; usleep 20000; rm /r/sub; mv /r/hold /r/sub; usleep 20000; i=$((i+1)); done';

/** The reply to the message, or `spawn_error` when the wake failed (a runtime refusing a swapped source is safe). */
async function outcome(server: TestServer, sessionId: string, messageId: string, after: number) {
  const deadline = Date.now() + 30_000;
  const all: ApiEvent[] = [];
  for (let cursor = after; Date.now() < deadline; ) {
    const page = (await (
      await server.api(`/v1/sessions/${sessionId}/events?after=${cursor}&wait=5000&limit=500`)
    ).json()) as { items: ApiEvent[]; nextAfter: number };
    all.push(...page.items);
    for (const e of page.items) {
      if (e.kind === 'output' && e.data.inReplyTo === messageId)
        return { text: String(e.data.text), cursor: e.seq };
      if (e.kind === 'lifecycle' && e.data.type === 'spawn_error')
        return { text: 'spawn_error', cursor: e.seq };
    }
    cursor = page.nextAfter;
  }
  throw new Error(`no reply to ${messageId} in 30 s: ${JSON.stringify(all.slice(-10))}`);
}

describe.each(runtimesUnderTest())('extra mounts under a writable root on %s', (runtime) => {
  let server: TestServer;
  let root: string;
  let attacker: string;

  beforeAll(async () => {
    const image = await ensureAgentImage(runtime);
    root = realpathSync(tempDir('berth-race-'));
    const shared = path.join(root, 'shared');
    mkdirSync(path.join(shared, 'sub'), { recursive: true });
    writeFileSync(path.join(shared, 'sub', 'marker'), 'the checked directory');
    const allowlist = path.join(root, 'allowlist.json');
    writeFileSync(allowlist, JSON.stringify({ allowedRoots: [{ path: shared, allowReadWrite: true }] }));
    server = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_STOP_GRACE_MS: '1000',
      BERTH_MOUNT_ALLOWLIST: allowlist,
    });
  });

  afterAll(async () => {
    if (attacker)
      execFileSync(runtime, ['rm', '-f', ...(runtime === 'podman' ? ['-t', '0'] : []), attacker], {
        stdio: 'ignore',
      });
    await server?.close();
  });

  it('never mounts what the path is swapped to, wake after wake', async () => {
    const victims = await Promise.all(
      Array.from({ length: PARALLEL }, () =>
        newSession(server, {
          containerConfig: { mounts: [{ hostPath: path.join(root, 'shared', 'sub'), containerPath: 'sub' }] },
        }),
      ),
    );
    // Before the attack the mount works: the checked directory shows up.
    const first = await post(server, victims[0]!.sessionId, '!ls /workspace/extra/sub');
    expect((await outcome(server, victims[0]!.sessionId, first.id, 0)).text).toBe('marker');
    await server.api(`/v1/sessions/${victims[0]!.sessionId}/stop`, { method: 'POST' });
    const uid = server.config.containerUid;
    chownSync(path.join(root, 'shared'), uid, uid);
    chownSync(path.join(root, 'shared', 'sub'), uid, uid);
    attacker = `berth-race-attacker-${process.pid}-${runtime}`;
    // A container of the same image and uid as an admin session mounting the root read-write.
    execFileSync(runtime, [
      ...['run', '-d', '--rm', '--pull=never', '--network=none', '--name', attacker],
      ...[
        '--user',
        `${uid}:${uid}`,
        '--entrypoint',
        '/bin/sh',
        '-v',
        `${path.join(root, 'shared')}:/r`,
        server.config.image,
        '-c',
        SWAP_LOOP,
      ],
    ]);
    const seen = new Map<string, number>();
    const deadline = Date.now() + BUDGET_MS;
    let wakes = 0;
    await Promise.all(
      victims.map(async ({ sessionId }) => {
        let cursor = 0;
        while (wakes < MAX_WAKES && Date.now() < deadline) {
          wakes++;
          const msg = await post(server, sessionId, '!ls /workspace/extra/sub');
          const result = await outcome(server, sessionId, msg.id, cursor);
          const text = result.text;
          cursor = result.cursor;
          seen.set(text, (seen.get(text) ?? 0) + 1);
          await server.api(`/v1/sessions/${sessionId}/stop`, { method: 'POST' });
        }
      }),
    );
    console.info(
      `${runtime}: ${wakes} wakes under the swap loop; listings seen: ${JSON.stringify([...seen])}`,
    );
    // The checked directory, or nothing (the check or the staging saw the swap and dropped the mount).
    for (const listing of seen.keys()) expect(['marker', '', 'ENOENT', 'spawn_error']).toContain(listing);
    expect(wakes).toBeGreaterThan(0);
  }, 120_000);
});
