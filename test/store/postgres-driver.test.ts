import { spawn } from 'node:child_process';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbKinds } from '../support/db.ts';
import { PgCluster } from '../support/pg-cluster.ts';

const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'postgres-driver.child.ts');

/** Runs the driver scenario in a child process; `onReady` runs once the child says it is under load. */
function runChild(
  mode: 'reserved' | 'load',
  url: string,
  onReady?: () => void,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, mode, url, url], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => proc.kill('SIGKILL'), 70_000);
    proc.stdout.on('data', (c: Buffer) => {
      const before = out;
      out += c.toString();
      if (!before.includes('ready\n') && out.includes('ready\n')) onReady?.();
    });
    proc.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

// The installed postgres.js carries patches/postgres+3.4.9.patch (applied by `npm install`); without
// it both cases end the child with "TypeError: Cannot read properties of null (reading 'write')".
describe.runIf(dbKinds().includes('postgres'))('postgres.js survives its server going away', () => {
  let cluster: PgCluster;
  beforeAll(async () => {
    cluster = await PgCluster.create();
  });
  afterAll(() => cluster?.destroy());

  it('rejects queries on a reserved connection whose backend died, instead of crashing', async () => {
    const res = await runChild('reserved', cluster.url);
    expect(res.err).not.toContain('TypeError');
    // The first query reports the closed connection; later ones do too, or stall (3.4.9 does not always
    // settle queries queued on a dead reserved connection); the pool recovers either way.
    expect(res.out).toMatch(
      /outcomes (CONNECTION_CLOSED|ECONNRESET)(,(CONNECTION_CLOSED|ECONNRESET|STALLED)){2} pool ok/,
    );
    expect(res.code).toBe(0);
  });

  it('rides out a server restart under load with a reserved connection and LISTEN', async () => {
    const res = await runChild('load', cluster.url, () => {
      cluster.stop('fast');
      cluster.start();
    });
    expect(res.err).not.toContain('TypeError');
    expect(res.out).not.toMatch(/unhandled (?!ECONNREFUSED|ECONNRESET|CONNECT_TIMEOUT|CONNECTION_)/);
    expect(res.out).toMatch(/failed [1-9]\d* recovered 20 notified-after [1-9]/);
    expect(res.code).toBe(0);
  }, 90_000);
});
