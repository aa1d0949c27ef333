import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { RuntimeCommandError, type RuntimeMissingError, tail } from './errors.ts';
import { LineQueue, onLines } from './lines.ts';
import type { BuildLine, BuildProcess } from './types.ts';

export interface BuildCall {
  binary: string;
  containerfile: string;
  /** The CLI arguments, given where the Containerfile was written. */
  args: (file: string) => string[];
  /** env, extendEnv and cwd of the CLI call. */
  options: { env: Record<string, string | undefined>; extendEnv: false; cwd: string };
  signal: AbortSignal | undefined;
  missing: () => RuntimeMissingError;
  imageId: () => Promise<string | undefined>;
}

/** Runs one `build` CLI call, streaming its lines; `done` carries the built image's id. */
export function spawnBuild(call: BuildCall): BuildProcess {
  const { binary } = call;
  // A private temp dir outside the project: nothing lands in the build context or the repo.
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-build-'));
  const file = path.join(dir, 'Containerfile');
  let args: string[];
  try {
    writeFileSync(file, call.containerfile, { mode: 0o600 });
    args = call.args(file);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const subprocess = execa(binary, args, {
    ...call.options,
    reject: false,
    buffer: false,
    stdin: 'ignore',
    // Canceling podman 4.3 leaves its buildah working container (podman ps --external) behind.
    ...(call.signal ? { cancelSignal: call.signal, forceKillAfterDelay: 5000 } : {}),
  });
  const queue = new LineQueue<BuildLine>();
  const recent: string[] = [];
  const emit = (stream: BuildLine['stream']) => (line: string) => {
    queue.push({ stream, line });
    recent.push(line);
    if (recent.length > 60) recent.shift();
  };
  const drained = Promise.all([
    onLines(subprocess.stdout, emit('stdout')),
    onLines(subprocess.stderr, emit('stderr')),
  ]);
  const done = (async () => {
    const [result] = await Promise.all([subprocess, drained]);
    rmSync(dir, { recursive: true, force: true });
    queue.end();
    if (result.failed) {
      if (result.code === 'ENOENT') throw call.missing();
      throw new RuntimeCommandError({
        binary,
        args,
        exitCode: result.exitCode ?? null,
        signal: result.signal ?? null,
        timedOut: result.timedOut,
        canceled: result.isCanceled,
        stderrTail: tail(recent.join('\n')),
        stdoutTail: '',
      });
    }
    return { imageId: await call.imageId() };
  })();
  // Callers that only iterate lines must not crash the process with an unhandled rejection.
  done.catch(() => {});
  return { done, [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator]() };
}
