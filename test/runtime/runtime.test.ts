import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BuildLine,
  type ContainerRuntime,
  createRuntime,
  type RunningContainer,
  type RunSpec,
  RuntimeCommandError,
} from '../../src/runtime/index.ts';
import { runtimesUnderTest } from '../support/runtimes.ts';

const runId = randomBytes(4).toString('hex');
const runtimes = runtimesUnderTest();
const timings: Record<string, Record<string, number[]>> = {};

function note(runtime: string, what: string, ms: number): void {
  const bucket = timings[runtime] ?? {};
  timings[runtime] = bucket;
  bucket[what] = [...(bucket[what] ?? []), ms];
}

function timed<T>(runtime: string, what: string, work: () => Promise<T>): Promise<T> {
  const started = performance.now();
  return work().finally(() => note(runtime, what, performance.now() - started));
}

function collect(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) =>
    stream.once('close', () => resolve(Buffer.concat(chunks).toString('utf8'))),
  );
}

/** A build context outside the repo: a static busybox as the whole root filesystem. */
function busyboxContext(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-runtime-ctx-'));
  const bin = path.join(dir, 'rootfs', 'bin');
  mkdirSync(bin, { recursive: true });
  copyFileSync('/bin/busybox', path.join(bin, 'busybox'));
  chmodSync(path.join(bin, 'busybox'), 0o755);
  for (const applet of ['sh', 'cat', 'sleep', 'id', 'touch', 'grep', 'printf', 'echo']) {
    symlinkSync('busybox', path.join(bin, applet));
  }
  // runc gives a tmpfs the mode of the directory it covers, so /tmp must already be 1777.
  for (const d of ['tmp', 'ro', 'rw']) mkdirSync(path.join(dir, 'rootfs', d));
  chmodSync(path.join(dir, 'rootfs', 'tmp'), 0o1777);
  return dir;
}

if (runtimes.length === 0) it.skip('container runtime tests (no runtime answers here)', () => {});

describe.each(runtimes)('%s runtime', (name) => {
  const rt: ContainerRuntime = createRuntime(name);
  const tag = `berth-runtime-test:${runId}`;
  const runLabel = { 'berth.test.run': runId };
  const foreign: string[] = [];
  let context: string;
  let hostDir: string;
  let buildLines: BuildLine[] = [];
  let builtId: string | undefined;
  let seq = 0;

  const spec = (over: Partial<RunSpec> = {}): RunSpec => ({
    name: `berth-rt-${name}-${runId}-${++seq}`,
    image: tag,
    labels: { ...runLabel, 'berth.test.runtime': name },
    env: {},
    mounts: [],
    user: '1000:1000',
    memoryMb: 64,
    cpus: 0.5,
    pids: 64,
    network: 'none',
    tmpfs: ['/tmp'],
    ...over,
  });

  async function waitRunning(c: RunningContainer): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      if ((await rt.inspect(c.name)).running) return;
      await sleep(25);
    }
    throw new Error(`${c.name} did not start`);
  }

  beforeAll(async () => {
    context = busyboxContext();
    hostDir = mkdtempSync(path.join(os.tmpdir(), 'berth-runtime-mnt-'));
    mkdirSync(path.join(hostDir, 'rw'));
    mkdirSync(path.join(hostDir, 'ro'));
    chmodSync(path.join(hostDir, 'rw'), 0o777);
    const build = rt.build({
      tag,
      containerfile: 'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/sh"]\n',
      contextDir: context,
      labels: runLabel,
    });
    buildLines = [];
    for await (const line of build) buildLines.push(line);
    builtId = (await timed(name, 'build', () => build.done)).imageId;
  });

  afterAll(async () => {
    for (const c of await rt.list(runLabel)) await rt.remove(c.name);
    for (const n of foreign) await rt.remove(n);
    await rt.removeImage(tag);
    rmSync(context, { recursive: true, force: true });
    rmSync(hostDir, { recursive: true, force: true });
  });

  it('builds an image from a Containerfile, streaming its output', async () => {
    expect(buildLines.length).toBeGreaterThan(0);
    expect(builtId).toBeTruthy();
    expect(await rt.imageId(tag)).toBe(builtId);
    expect(await rt.imageId(`berth-runtime-test:missing-${runId}`)).toBeUndefined();
  });

  it('reports a failed build as RUNTIME_COMMAND_FAILED with the output tail', async () => {
    const build = rt.build({
      tag: `berth-runtime-test:broken-${runId}`,
      containerfile: 'FROM scratch\nCOPY does-not-exist /\n',
      contextDir: context,
    });
    const err = await build.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeCommandError);
    expect((err as RuntimeCommandError).code).toBe('RUNTIME_COMMAND_FAILED');
    expect((err as RuntimeCommandError).stderrTail).toMatch(/does-not-exist/);
  });

  it('round-trips stdin to stdout and keeps env values out of the CLI argv', async () => {
    const token = `placeholder-${randomBytes(8).toString('hex')}`;
    const s = spec({
      env: { BERTH_TEST_TOKEN: token },
      command: ['sh', '-c', 'echo "$BERTH_TEST_TOKEN"; exec cat'],
    });
    const started = performance.now();
    const c = rt.run(s);
    const out = collect(c.stdout);
    const argv = readFileSync(`/proc/${c.pid}/cmdline`, 'utf8');
    expect(argv).toContain(s.name);
    expect(argv).not.toContain(token);
    c.stdin.write('hello\n');
    c.stdin.end('world\n');
    const exit = await c.exited;
    note(name, 'run (spawn→exit, cat round trip)', performance.now() - started);
    expect(exit).toEqual({ exitCode: 0, signal: null });
    expect(await out).toBe(`${token}\nhello\nworld\n`);
    const state = await timed(name, 'inspect', () => rt.inspect(s.name));
    expect(state).toMatchObject({ exists: true, running: false, exitCode: 0, oomKilled: false });
    expect(state.labels['berth.test.run']).toBe(runId);
  });

  it('applies the hardening: user, read-only root, no capabilities, no new privileges, mounts', async () => {
    const script = [
      'id -u',
      'touch /x 2>/dev/null && echo root-rw || echo root-ro',
      'touch /tmp/x && echo tmp-rw',
      'touch /ro/x 2>/dev/null && echo mount-rw || echo mount-ro',
      'touch /rw/x && echo rw-ok',
      'grep -E "^(CapEff|NoNewPrivs)" /proc/self/status',
    ].join('; ');
    const c = rt.run(
      spec({
        command: ['sh', '-c', script],
        mounts: [
          { hostPath: path.join(hostDir, 'ro'), containerPath: '/ro', readonly: true },
          { hostPath: path.join(hostDir, 'rw'), containerPath: '/rw', readonly: false },
        ],
      }),
    );
    const out = collect(c.stdout);
    c.stdin.end();
    expect((await c.exited).exitCode).toBe(0);
    const lines = (await out).trim().split('\n');
    expect(lines.slice(0, 5)).toEqual(['1000', 'root-ro', 'tmp-rw', 'mount-ro', 'rw-ok']);
    expect(lines).toContainEqual(expect.stringMatching(/^CapEff:\s+0+$/));
    expect(lines).toContainEqual(expect.stringMatching(/^NoNewPrivs:\s+1$/));
  });

  it('reports the exit code in inspect', async () => {
    const s = spec({ command: ['sh', '-c', 'exit 3'] });
    const c = rt.run(s);
    c.stdin.end();
    expect((await c.exited).exitCode).toBe(3);
    expect(await rt.inspect(s.name)).toMatchObject({
      exists: true,
      running: false,
      exitCode: 3,
      oomSuspected: false,
    });
  });

  it('stops a running container by name, escalating to kill when SIGTERM is ignored', async () => {
    // sleep as PID 1 has no SIGTERM handler, so only the kill after the grace period ends it.
    const c = rt.run(spec({ command: ['sleep', '600'] }));
    await timed(name, 'start→running', () => waitRunning(c));
    await timed(name, 'stop (ignores TERM, grace 1 s)', () => rt.stop(c.name, 1));
    expect((await c.exited).exitCode).toBe(137);
    expect(await rt.inspect(c.name)).toMatchObject({ running: false, exitCode: 137 });
    // Stopping again, or a container that never existed, is not an error.
    await rt.stop(c.name, 1);
    await rt.stop(`berth-rt-none-${runId}`, 1);
  });

  it('stops promptly when the container honours SIGTERM', async () => {
    const c = rt.run(spec({ command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.05; done'] }));
    await waitRunning(c);
    await timed(name, 'stop (handles TERM)', () => rt.stop(c.name, 10));
    expect((await c.exited).exitCode).toBe(0);
    expect((await rt.inspect(c.name)).exitCode).toBe(0);
  });

  it('kills a running container', async () => {
    const c = rt.run(spec({ command: ['sleep', '600'] }));
    await waitRunning(c);
    await timed(name, 'kill', () => rt.kill(c.name));
    expect((await c.exited).exitCode).toBe(137);
    const state = await rt.inspect(c.name);
    expect(state).toMatchObject({ running: false, exitCode: 137, oomKilled: false });
    await rt.kill(c.name);
  });

  it('detects an out-of-memory kill', async () => {
    const s = spec({ memoryMb: 16, command: ['sh', '-c', 'x=a; while :; do x=$x$x; done'] });
    const c = rt.run(s);
    c.stdin.end();
    expect((await c.exited).exitCode).toBe(137);
    const state = await rt.inspect(s.name);
    expect(state.exitCode).toBe(137);
    expect(state.oomKilled || state.oomSuspected).toBe(true);
    // docker reports the kernel's OOM kill itself; podman 4.3 on cgroups v1 leaves OOMKilled false.
    if (name === 'docker') expect(state.oomKilled).toBe(true);
    console.info(`${name}: OOMKilled=${state.oomKilled} oomSuspected=${state.oomSuspected}`);
  });

  it('lists by label: ours, and not a container without our label', async () => {
    const kind = { ...runLabel, 'berth.test.kind': 'list' };
    const ours = rt.run(spec({ labels: kind, command: ['sleep', '600'] }));
    const other = rt.run(
      spec({ name: `berth-foreign-${name}-${runId}`, labels: {}, command: ['sleep', '600'] }),
    );
    foreign.push(other.name);
    await Promise.all([waitRunning(ours), waitRunning(other)]);
    const listed = await timed(name, 'list', () => rt.list(kind));
    expect(listed).toEqual([{ name: ours.name, running: true, labels: expect.objectContaining(kind) }]);
    const everything = await rt.list({});
    expect(everything.map((c) => c.name)).toEqual(expect.arrayContaining([ours.name, other.name]));
    await Promise.all([rt.kill(ours.name), rt.kill(other.name)]);
    await Promise.all([ours.exited, other.exited]);
    expect(await rt.list(kind)).toEqual([
      { name: ours.name, running: false, labels: expect.objectContaining(kind) },
    ]);
  });

  it('removes a container, running or not, and ignores one that is gone', async () => {
    const c = rt.run(spec({ command: ['sleep', '600'] }));
    await waitRunning(c);
    await timed(name, 'remove (running)', () => rt.remove(c.name));
    await c.exited;
    expect(await rt.inspect(c.name)).toMatchObject({ exists: false, running: false, exitCode: null });
    await rt.remove(c.name);
  });

  it('answers version and the bridge gateway', async () => {
    expect(await rt.version()).toMatch(/^\d+\.\d+/);
    expect(await rt.bridgeGateway()).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
  });
});

afterAll(() => {
  const rows = Object.entries(timings).flatMap(([runtime, byWhat]) =>
    Object.entries(byWhat).map(
      ([what, ms]) => `${runtime.padEnd(7)} ${what.padEnd(32)} ${ms.map((m) => m.toFixed(0)).join(', ')} ms`,
    ),
  );
  if (rows.length > 0) console.info(`runtime timings (run ${runId}):\n${rows.join('\n')}`);
});
