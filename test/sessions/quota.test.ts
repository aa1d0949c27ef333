import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { afterAll, describe, expect, it } from 'vitest';
import { diskUsage } from '../../src/sessions/quota.ts';
import { tempDir } from '../support/db.ts';
import { ensureAgentImage } from '../support/image.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { collectEvents, json, lifecycle, newSession, post } from '../support/sessions.ts';

const isRoot = process.getuid?.() === 0;
const inCi = process.env.CI === 'true' || process.env.CI === '1';
if (!isRoot && inCi) throw new Error('the disk-reserve test needs root (a tmpfs data dir) in CI');

type Session = { status: string; lastExit: { code: number | null; reason: string } | null };

async function settled(server: TestServer, sessionId: string): Promise<Session> {
  const events = await collectEvents(server, sessionId, (e) => lifecycle(e, 'exit').length > 0, {
    kinds: 'lifecycle',
  });
  expect(lifecycle(events, 'exit')[0]!.data.reason).toBe('quota');
  return json<Session>(await server.api(`/v1/sessions/${sessionId}`), 200);
}

describe('workspace disk usage', () => {
  it('counts allocated blocks, not apparent sizes, and does not follow symlinks out', async () => {
    const dir = tempDir('berth-du-');
    mkdirSync(path.join(dir, 'a'));
    execFileSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'a', 'real')}`, 'bs=1M', 'count=2'], {
      stdio: 'ignore',
    });
    execFileSync('truncate', ['-s', '1G', path.join(dir, 'sparse')]);
    execFileSync('ln', ['-s', '/usr', path.join(dir, 'usr')]);
    const used = await diskUsage(dir);
    expect(used).toBeGreaterThanOrEqual(2 * 2 ** 20);
    expect(used).toBeLessThan(3 * 2 ** 20);
    expect(await diskUsage(dir, 2 ** 20)).toBeGreaterThan(2 ** 20);
  });
});

describe.each(runtimesUnderTest())('disk limits on %s', (runtime) => {
  const servers: TestServer[] = [];
  const tmpfs: string[] = [];

  afterAll(async () => {
    for (const s of servers) await s.close();
    for (const dir of tmpfs) execFileSync('umount', ['--lazy', dir]);
  });

  it('stops a run whose workspace passes its quota, with reason quota and an event', async () => {
    const image = await ensureAgentImage(runtime);
    const server = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_STOP_GRACE_MS: '1000',
      BERTH_WORKSPACE_QUOTA_MB: '4',
      BERTH_DISK_RESERVE_MB: '0',
      BERTH_QUOTA_CHECK_MS: '200',
    });
    servers.push(server);
    const { sessionId } = await newSession(server);
    await post(server, sessionId, '!fill /workspace/big.bin 8');
    const events = await collectEvents(server, sessionId, (e) => lifecycle(e, 'exit').length > 0, {
      kinds: 'lifecycle',
    });
    const breach = lifecycle(events, 'quota_exceeded')[0]!.data;
    expect(breach.limitBytes).toBe(4 * 2 ** 20);
    expect(breach.usedBytes as number).toBeGreaterThan(4 * 2 ** 20);
    expect((await settled(server, sessionId)).lastExit?.reason).toBe('quota');
    // A quota stop does not wake the session again by itself.
    expect((await json<Session>(await server.api(`/v1/sessions/${sessionId}`))).status).toBe('idle');
  });

  it.skipIf(!isRoot)('stops every run when the data dir runs low on space, and refuses wakes', async () => {
    const image = await ensureAgentImage(runtime);
    const dataDir = tempDir('berth-full-');
    // A small file system of the data dir's own, filled for real.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'tmpfs', dataDir]);
    tmpfs.push(dataDir);
    const server = await startTestServer('pglite', {
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_AGENT: 'echo',
      BERTH_DATA_DIR: dataDir,
      BERTH_STOP_GRACE_MS: '1000',
      BERTH_WORKSPACE_QUOTA_MB: '1024',
      BERTH_DISK_RESERVE_MB: '16',
      BERTH_QUOTA_CHECK_MS: '200',
    });
    servers.push(server);
    const filler = await newSession(server);
    const bystander = await newSession(server);
    await post(server, bystander.sessionId, 'hello');
    await collectEvents(server, bystander.sessionId, (e) => e.some((x) => x.kind === 'output'));
    // The group folder is outside any session quota; only the reserve catches it.
    await post(server, filler.sessionId, '!fill /workspace/group/big.bin 40');
    for (const { sessionId } of [filler, bystander]) {
      const events = await collectEvents(server, sessionId, (e) => lifecycle(e, 'exit').length > 0, {
        kinds: 'lifecycle',
      });
      expect(lifecycle(events, 'disk_low')[0]!.data.reserveBytes).toBe(16 * 2 ** 20);
      expect((await settled(server, sessionId)).lastExit?.reason).toBe('quota');
    }
    const refused = await server.api(`/v1/sessions/${bystander.sessionId}/wake`, { method: 'POST' });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { code: string }).code).toBe('DISK_LOW');
  });
});
