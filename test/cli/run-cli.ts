import path from 'node:path';
import process from 'node:process';
import { execa, type ResultPromise } from 'execa';
import { tempDir } from '../support/db.ts';

const bin = path.resolve(import.meta.dirname, '../../bin/berth.js');
/** A directory without data/api-token, so only what a test passes selects the token. */
const cwd = tempDir('berth-cli-cwd-');

export interface Target {
  url: string;
  token?: string;
}

function env(target: Target): Record<string, string | undefined> {
  return { PATH: process.env.PATH, HOME: process.env.HOME, BERTH_URL: target.url, BERTH_TOKEN: target.token };
}

/** Runs `berth …` as its own process, the way a user's shell does, and returns its output and exit code. */
export async function berth(target: Target, ...args: string[]) {
  const r = await execa('node', [bin, ...args], { cwd, env: env(target), extendEnv: false, reject: false });
  return { code: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** `berth … --json`, parsed; fails with stderr when the command did not succeed. */
export async function berthJson<T = Record<string, unknown>>(target: Target, ...args: string[]): Promise<T> {
  const r = await berth(target, ...args, '--json');
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** A long-running `berth …` (logs -f) whose stdout a test watches. */
export function spawnBerth(target: Target, ...args: string[]): ResultPromise<{ reject: false }> {
  return execa('node', [bin, ...args], {
    cwd,
    env: env(target),
    extendEnv: false,
    reject: false,
  }) as ResultPromise<{
    reject: false;
  }>;
}

/** Collects a running process's stdout; `until` resolves once all of it so far satisfies `done`. */
export function watch(proc: ResultPromise) {
  let out = '';
  const waiters = new Set<() => void>();
  proc.stdout!.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    for (const w of waiters) w();
  });
  const exited = proc.then((r) => r);
  return {
    text: () => out,
    until(done: (stdout: string) => boolean): Promise<string> {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!done(out)) return;
          waiters.delete(check);
          resolve(out);
        };
        waiters.add(check);
        check();
        exited.then((r) => {
          if (waiters.delete(check))
            reject(
              new Error(
                `berth exited ${r.exitCode} before the expected output; stdout: ${out}; stderr: ${r.stderr}`,
              ),
            );
        }, reject);
      });
    },
  };
}
