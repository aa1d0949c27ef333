import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildAgentImage } from '../../container/image/build.ts';
import { cliEnv } from '../../src/config/cli-env.ts';
import { createRuntime } from '../../src/runtime/index.ts';
import type { TestRuntime } from './runtimes.ts';

// TEST_AGENT_IMAGE lets a branch that changes the image test it without retagging the shared one.
export const TEST_IMAGE = process.env.TEST_AGENT_IMAGE || 'berth-agent:test';

const LOCK = path.join(tmpdir(), 'berth-agent-image.lock');
const LOCK_WAIT_MS = 5 * 60_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Who holds the lock: a live pid, `stale` (dead holder or never got its pid written), or `gone`. */
function lockHolder(): number | 'stale' | 'gone' {
  try {
    const pid = Number(readFileSync(LOCK, 'utf8'));
    if (pid > 0) return alive(pid) ? pid : 'stale';
    return Date.now() - statSync(LOCK).mtimeMs > 10_000 ? 'stale' : 0;
  } catch {
    return 'gone';
  }
}

/** One build at a time across vitest workers: they share container/.build and the image store. */
async function withLock<T>(work: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = lockHolder();
      if (holder === 'gone') continue;
      // A holder that died mid-build leaves its lock behind.
      if (holder === 'stale') {
        try {
          unlinkSync(LOCK);
        } catch {}
        continue;
      }
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${LOCK} (held by pid ${holder})`);
      await sleep(100);
    }
  }
  try {
    return await work();
  } finally {
    try {
      unlinkSync(LOCK);
    } catch {}
  }
}

const builds = new Map<TestRuntime, Promise<string>>();

/**
 * The agent image tagged TEST_IMAGE for one runtime, built at most once per worker; later workers
 * find the image's hash label current and skip the build.
 */
export function ensureAgentImage(runtime: TestRuntime): Promise<string> {
  let pending = builds.get(runtime);
  if (!pending) {
    // The tests' own environment reaches the CLI, as the service's configured one would.
    const rt = createRuntime(runtime, { env: cliEnv(process.env, process.env.PATH ?? '') });
    pending = withLock(() => buildAgentImage({ runtime: rt, tag: TEST_IMAGE, mode: 'offline' })).then(
      (r) => r.tag,
    );
    pending.catch(() => builds.delete(runtime));
    builds.set(runtime, pending);
  }
  return pending;
}
