import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BerthProcess } from '../support/berth-process.ts';
import { ensureAgentImage } from '../support/image.ts';
import { freePort, PgCluster, pgBin } from '../support/pg-cluster.ts';
import { runtimesUnderTest, type TestRuntime } from '../support/runtimes.ts';
import { createDatabase } from '../support/service.ts';
import { account, MessageStream, type Outcome, table } from './stream.ts';

const inCi = process.env.CI === 'true' || process.env.CI === '1';
const runtimes = runtimesUnderTest();
const repeat = Number(process.env.FAULT_REPEAT ?? '1');
const results: Outcome[] = [];
const COUNT = 40;
const EVERY_MS = 150;

if (!pgBin() && inCi) throw new Error('PostgreSQL is required for the fault suite in CI');

/** One berth on a private PostgreSQL, one session, a steady stream, a fault in the middle, then the books. */
async function scenario(
  fault: string,
  cluster: PgCluster,
  runtime: TestRuntime,
  inject: (ctx: {
    url: string;
    berth: BerthProcess;
    sessionId: string;
    containerName: () => Promise<string>;
  }) => Promise<BerthProcess | undefined>,
  opts: { env?: Record<string, string>; dataDir?: string } = {},
): Promise<Outcome> {
  const image = await ensureAgentImage(runtime);
  const url = await createDatabase(cluster.url, 'fault');
  const berth = new BerthProcess(
    await freePort(),
    {
      DATABASE_URL: url,
      BERTH_RUNTIME: runtime,
      BERTH_IMAGE: image,
      BERTH_DB_TIMEOUT_MS: '2000',
      ...opts.env,
    },
    opts.dataDir,
  );
  await berth.start();
  try {
    const g = (await (
      await berth.api('/v1/groups', { method: 'POST', json: { name: 'faults', folder: `f${Date.now()}` } })
    ).json()) as { id: string };
    const s = (await (
      await berth.api('/v1/sessions', { method: 'POST', json: { groupId: g.id } })
    ).json()) as { id: string };
    let target = berth;
    const stream = new MessageStream(() => target, s.id);
    const streaming = stream.run(COUNT, EVERY_MS, fault.replace(/[^a-z0-9]+/g, '-'));
    // Mid-flow: a third of the stream is in before the fault.
    await sleep((COUNT / 3) * EVERY_MS);
    const injectedAt = Date.now();
    target =
      (await inject({
        url,
        berth,
        sessionId: s.id,
        containerName: async () => {
          const session = (await (await berth.api(`/v1/sessions/${s.id}`)).json()) as {
            containerName: string;
          };
          return session.containerName;
        },
      })) ?? berth;
    // A kill is over once done; a database or daemon outage once it is lifted.
    const liftedAt = target === berth ? Date.now() : injectedAt;
    await streaming;
    const outcome = await account(target, s.id, stream, { fault: `${fault} (${runtime})`, liftedAt });
    results.push(outcome);
    const ready = await target.api('/readyz');
    expect(stream.rejected, 'every message is eventually accepted').toEqual([]);
    expect(outcome.stuck, `lost messages; berth log: ${berth.logFile}`).toEqual([]);
    expect(outcome.duplicated).toBe(0);
    expect(outcome.crashes, `berth crashed; log: ${berth.logFile}`).toBe(0);
    expect(ready.status).toBe(200);
    return outcome;
  } finally {
    await berth.stop();
  }
}

describe.runIf(pgBin() && runtimes.length > 0)('fault injection: nothing accepted is lost', () => {
  let cluster: PgCluster;
  const runtime = runtimes[0]!;

  beforeAll(async () => {
    cluster = await PgCluster.create();
  });

  afterAll(() => {
    cluster?.destroy();
    const out = `\n${table(results)}\n`;
    console.log(out);
    if (process.env.FAULT_RESULTS) appendFileSync(process.env.FAULT_RESULTS, out);
  });

  for (let round = 1; round <= repeat; round++) {
    const suffix = repeat > 1 ? ` #${round}` : '';
    it(`PostgreSQL restart mid-flow${suffix}`, async () => {
      await scenario('postgres restart', cluster, runtime, async () => {
        cluster.stop('fast');
        await sleep(3000);
        cluster.start();
        return undefined;
      });
    });
  }

  it('PostgreSQL down for 10 s', async () => {
    await scenario('postgres down 10 s', cluster, runtime, async () => {
      cluster.stop('fast');
      await sleep(10_000);
      cluster.start();
      return undefined;
    });
  });

  it('kill -9 of berth mid-turn', async () => {
    await scenario('berth kill -9', cluster, runtime, async ({ berth }) => {
      await berth.kill9();
      await berth.start();
      return undefined;
    });
  });

  it('kill -9 of one of two instances: the other takes over within the lease', async () => {
    const peerEnv = { BERTH_LEASE_MS: '3000' };
    let peer: BerthProcess | undefined;
    try {
      await scenario(
        'instance kill -9 (lease 3 s)',
        cluster,
        runtime,
        async ({ berth, url }) => {
          peer = new BerthProcess(await freePort(), { ...berth.sharedEnv, DATABASE_URL: url });
          await peer.start();
          await berth.kill9();
          // Clients fail over to the surviving instance.
          return peer;
        },
        { env: peerEnv },
      );
    } finally {
      await peer?.stop();
    }
  });

  for (const rt of runtimes) {
    it(`container killed from outside (${rt})`, async () => {
      await scenario('container kill', cluster, rt, async ({ containerName }) => {
        const name = await containerName();
        // The wake answers once the CLI is spawned; the container itself appears a moment later.
        for (let i = 0; i < 100 && !exists(rt, name); i++) await sleep(200);
        execFileSync(rt, ['kill', name], { stdio: 'pipe' });
        return undefined;
      });
    });
  }

  it('data dir on a full file system, then space returns', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dir]);
    try {
      await scenario(
        'full disk',
        cluster,
        runtime,
        async () => {
          const filler = path.join(dir, 'filler');
          try {
            execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=1M'], { stdio: 'pipe' });
          } catch {
            // dd stops with ENOSPC: that is the point, the file system is now full.
          }
          await sleep(2000);
          rmSync(filler);
          return undefined;
        },
        // A small reserve: the 64 MiB file system is fine until the filler takes the rest.
        { dataDir: dir, env: { BERTH_DISK_RESERVE_MB: '4', BERTH_QUOTA_CHECK_MS: '500' } },
      );
    } finally {
      execFileSync('umount', ['-l', dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.runIf(runtimes.includes('docker'))('Docker daemon restart', async () => {
    await scenario('docker daemon restart', cluster, 'docker', async () => {
      await restartDockerd();
      return undefined;
    });
  });
});

function exists(rt: TestRuntime, name: string): boolean {
  try {
    execFileSync(rt, ['container', 'inspect', name], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** Stops dockerd and starts it again the way the machine setup does (setsid, same log), then waits for it. */
async function restartDockerd(): Promise<void> {
  const pid = Number(execFileSync('pidof', ['dockerd'], { encoding: 'utf8' }).trim().split(/\s+/)[0]);
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0);
      await sleep(100);
    } catch {
      break;
    }
  }
  const out = execFileSync('sh', ['-c', 'setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null & echo $!'], {
    encoding: 'utf8',
  });
  if (!out.trim()) throw new Error('dockerd did not start');
  for (let i = 0; i < 120; i++) {
    try {
      execFileSync('docker', ['info'], { stdio: 'pipe', timeout: 5000 });
      return;
    } catch {
      await sleep(500);
    }
  }
  throw new Error('dockerd did not come back');
}
