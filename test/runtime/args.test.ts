import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apple } from '../../src/runtime/apple.ts';
import {
  createRuntime,
  detectRuntime,
  envFileText,
  InvalidRunSpecError,
  type RunSpec,
  RuntimeCommandError,
  RuntimeMissingError,
  type RuntimeName,
  refusedEnvName,
} from '../../src/runtime/index.ts';
import { docker, podman } from '../../src/runtime/oci.ts';
import { parseLabelString } from '../../src/runtime/parse.ts';

const SECRET = 'placeholder-token-5f2c9e';

function spec(over: Partial<RunSpec> = {}): RunSpec {
  return {
    name: 'berth-s1-3',
    image: 'berth-agent:latest',
    labels: { 'berth.managed': 'true', 'berth.session': 's1', 'berth.generation': '3' },
    env: { ANTHROPIC_API_KEY: SECRET, BERTH_FRAME_NONCE: 'nonce-abc', HOME: '/workspace' },
    mounts: [
      { hostPath: '/srv/berth/sessions/s1', containerPath: '/workspace', readonly: false },
      { hostPath: '/srv/berth/global', containerPath: '/workspace/global', readonly: true },
    ],
    user: '1000:1000',
    memoryMb: 512,
    cpus: 1.5,
    pids: 256,
    tmpfs: ['/tmp'],
    workdir: '/workspace',
    ...over,
  };
}

/** Value following `flag` (flag given as its own argument). */
function valuesOf(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] as string] : []));
}

const ENV_FILE = '/srv/berth/run/env-abc/env';

const all: RuntimeName[] = ['docker', 'podman', 'container'];

describe.each(all)('%s run arguments', (name) => {
  const rt = createRuntime(name);
  const args = rt.runArgs(spec({ command: ['node', '/app/runner.js'] }), ENV_FILE);

  it('starts an interactive, named container and never auto-removes it', () => {
    expect(args.slice(0, 2)).toEqual(['run', '-i']);
    expect(valuesOf(args, '--name')).toEqual(['berth-s1-3']);
    expect(args).not.toContain('--rm');
    expect(args.some((a) => a.startsWith('--rm'))).toBe(false);
    expect(args).not.toContain('-d');
  });

  it('puts every label on the command line', () => {
    expect(valuesOf(args, '--label').sort()).toEqual([
      'berth.generation=3',
      'berth.managed=true',
      'berth.session=s1',
    ]);
  });

  it('places the image after all options and the command after the image', () => {
    const at = args.indexOf('berth-agent:latest');
    expect(at).toBe(args.length - 3);
    expect(args.slice(at + 1)).toEqual(['node', '/app/runner.js']);
  });

  it('passes the environment as one env file: no names, no values in argv', () => {
    expect(args.join(' ')).not.toContain(SECRET);
    expect(args.join(' ')).not.toContain('nonce-abc');
    expect(args.join(' ')).not.toContain('BERTH_FRAME_NONCE');
    expect(args).not.toContain('--env');
    expect(valuesOf(args, '--env-file')).toEqual([ENV_FILE]);
  });

  it('refuses a run with variables but no env file', () => {
    expect(() => rt.runArgs(spec({}))).toThrow(InvalidRunSpecError);
  });

  it('uses a read-only root filesystem and drops capabilities', () => {
    expect(args).toContain('--read-only');
    if (name === 'container') expect(valuesOf(args, '--cap-drop')).toEqual(['ALL']);
    else expect(args).toContain('--cap-drop=ALL');
  });

  it('mounts read-only folders with the readonly option', () => {
    const mounts = valuesOf(args, '--mount');
    expect(mounts).toEqual([
      'type=bind,source=/srv/berth/sessions/s1,target=/workspace',
      'type=bind,source=/srv/berth/global,target=/workspace/global,readonly',
    ]);
  });

  it('sets user and working directory', () => {
    expect(valuesOf(args, '--user')).toEqual(['1000:1000']);
    expect(valuesOf(args, '--workdir')).toEqual(['/workspace']);
  });
});

describe.each(['docker', 'podman'] as const)('%s hardening and limits', (name) => {
  const args = createRuntime(name).runArgs(
    spec({ network: 'bridge', addHosts: { 'berth-proxy': '10.88.0.1' }, tmpfs: ['/tmp', '/run:rw,size=8m'] }),
    ENV_FILE,
  );

  it('never pulls and never gains privileges', () => {
    expect(args).toContain('--pull=never');
    expect(args).toContain('--security-opt=no-new-privileges');
    expect(args).not.toContain('--privileged');
  });

  it('limits memory (without swap), cpus and pids', () => {
    expect(valuesOf(args, '--memory')).toEqual(['512m']);
    expect(valuesOf(args, '--memory-swap')).toEqual(['512m']);
    expect(valuesOf(args, '--cpus')).toEqual(['1.5']);
    expect(valuesOf(args, '--pids-limit')).toEqual(['256']);
  });

  it('passes tmpfs, network and extra hosts', () => {
    expect(valuesOf(args, '--tmpfs')).toEqual(['/tmp:rw,exec,nosuid,nodev,mode=1777', '/run:rw,size=8m']);
    expect(valuesOf(args, '--network')).toEqual(['bridge']);
    expect(valuesOf(args, '--add-host')).toEqual(['berth-proxy:10.88.0.1']);
  });

  it('keeps engine-side logs off', () => {
    expect(args).toContain('--log-driver=none');
  });
});

describe('Apple container run arguments', () => {
  const args = createRuntime('container').runArgs(spec({ cpus: 1.5, tmpfs: ['/tmp:rw,size=8m'] }), ENV_FILE);

  it('maps resources to whole CPUs and MiB', () => {
    expect(valuesOf(args, '--cpus')).toEqual(['2']);
    expect(valuesOf(args, '--memory')).toEqual(['512M']);
    expect(valuesOf(args, '--tmpfs')).toEqual(['/tmp']);
  });

  it('leaves out flags its CLI does not have', () => {
    for (const flag of [
      '--pull=never',
      '--security-opt=no-new-privileges',
      '--pids-limit',
      '--log-driver=none',
    ]) {
      expect(args).not.toContain(flag);
    }
  });
});

describe('environment file and refused names', () => {
  it('writes one KEY=VALUE line per variable, in key order, values verbatim', () => {
    expect(envFileText({ TOKEN: SECRET, A: 'x = "y" #z', EMPTY: '' })).toBe(
      `A=x = "y" #z\nEMPTY=\nTOKEN=${SECRET}\n`,
    );
  });

  it.each([
    '_CONTAINERS_USERNS_CONFIGURED',
    'NOTIFY_SOCKET',
    'LD_PRELOAD',
    'ld_preload',
    'DOCKER_HOST',
    'PODMAN_USERNS',
    'CONTAINERS_CONF',
    'NODE_OPTIONS',
    'PATH',
    'https_proxy',
    'BERTH_API_TOKEN',
    'ANTHROPIC_BASE_URL',
    'LISTEN_FDS',
  ])('refuses %s with a reason', (name) => {
    expect(refusedEnvName(name)).toMatch(/reserved|read by/);
  });

  it.each(['GITHUB_TOKEN', 'MY_PATH', 'LANG', 'NODEJS'])('accepts %s', (name) => {
    expect(refusedEnvName(name)).toBeUndefined();
  });

  it('refuses values with line breaks, which would add variables to the file', () => {
    expect(() =>
      createRuntime('docker').runArgs(spec({ env: { A: 'x\nLD_PRELOAD=/x.so' } }), ENV_FILE),
    ).toThrow(InvalidRunSpecError);
  });
});

describe('validation', () => {
  const rt = createRuntime('docker');
  const hostile = ['--privileged', 'a b', '../x', '$(id)', '', '-v', 'x;rm -rf /', 'a\nb'];

  it.each(hostile)('rejects container name %j', (bad) => {
    expect(() => rt.runArgs(spec({ name: bad }), ENV_FILE)).toThrow(InvalidRunSpecError);
  });

  it.each([...hostile, 'UPPER/case', 'img:tag:tag', 'a//b'])('rejects image %j', (bad) => {
    expect(() => rt.runArgs(spec({ image: bad }), ENV_FILE)).toThrow(InvalidRunSpecError);
  });

  it.each([
    'berth-agent:latest',
    'localhost/berth-agent:test',
    'registry.example.com:5000/team/agent:v1.2',
    `agent@sha256:${'a'.repeat(64)}`,
    'a2cd29cba8ab',
  ])('accepts image %j', (good) => {
    expect(() => rt.runArgs(spec({ image: good }), ENV_FILE)).not.toThrow();
  });

  it('rejects mount paths that are relative, contain "..", or would break --mount syntax', () => {
    for (const hostPath of ['relative/dir', '/a/../etc', '/a,readonly=false', '/a"b', '/a\nb']) {
      expect(() =>
        rt.runArgs(spec({ mounts: [{ hostPath, containerPath: '/x', readonly: true }] }), ENV_FILE),
      ).toThrow(InvalidRunSpecError);
    }
    expect(() =>
      rt.runArgs(spec({ mounts: [{ hostPath: '/a', containerPath: '/x:/y', readonly: true }] }), ENV_FILE),
    ).toThrow(InvalidRunSpecError);
  });

  it('rejects bad labels, env names, users, resources, networks and hosts', () => {
    const bad: Partial<RunSpec>[] = [
      { labels: { 'bad key': 'x' } },
      { labels: { ok: 'a,b' } },
      { labels: { ok: 'line\nbreak' } },
      { env: { 'BAD-NAME': 'x' } },
      { env: { '--privileged': 'x' } },
      { user: 'root; id' },
      { user: '--privileged' },
      { memoryMb: 0 },
      { memoryMb: 1.5 },
      { cpus: 0 },
      { cpus: Number.NaN },
      { pids: -1 },
      { network: '--privileged' },
      { network: 'host net' },
      { addHosts: { 'evil host': '1.2.3.4' } },
      { addHosts: { proxy: 'not-an-ip' } },
      { tmpfs: ['/tmp:rw;x'] },
      { tmpfs: ['tmp'] },
      { workdir: 'relative' },
    ];
    for (const over of bad)
      expect(() => rt.runArgs(spec(over), ENV_FILE), JSON.stringify(over)).toThrow(InvalidRunSpecError);
  });

  it('gives validation errors a stable code', () => {
    try {
      rt.runArgs(spec({ name: '--privileged' }), ENV_FILE);
      expect.unreachable();
    } catch (err) {
      expect((err as InvalidRunSpecError).code).toBe('INVALID_RUN_SPEC');
    }
  });

  it('validates names before running stop, kill, inspect and remove', async () => {
    await expect(rt.stop('$(id)', 1)).rejects.toThrow(InvalidRunSpecError);
    await expect(rt.kill('--all')).rejects.toThrow(InvalidRunSpecError);
    await expect(rt.inspect('a b')).rejects.toThrow(InvalidRunSpecError);
    await expect(rt.remove('../x')).rejects.toThrow(InvalidRunSpecError);
    await expect(rt.imageId('--privileged')).rejects.toThrow(InvalidRunSpecError);
  });
});

describe('other command arguments', () => {
  it('stops with a grace period and removes by force', () => {
    expect(docker.stopArgs('c1', 5)).toEqual(['stop', '-t', '5', 'c1']);
    expect(podman.removeArgs('c1')).toEqual(['rm', '-f', '-t', '0', 'c1']);
    expect(docker.removeArgs('c1')).toEqual(['rm', '-f', 'c1']);
    expect(apple.removeArgs('c1')).toEqual(['delete', '--force', 'c1']);
  });

  it('filters lists by every label', () => {
    expect(docker.listArgs({ b: '2', a: '1' })).toEqual([
      'ps',
      '-a',
      '--filter',
      'label=a=1',
      '--filter',
      'label=b=2',
      '--format',
      '{{json .}}',
    ]);
    expect(podman.listArgs({ a: '1' })).toEqual(['ps', '-a', '--filter', 'label=a=1', '--format', 'json']);
  });

  it('builds from a Containerfile path with labels; docker without BuildKit, podman without pulls', () => {
    const opts = {
      tag: 't:1',
      file: '/tmp/x/Containerfile',
      contextDir: '/ctx',
      labels: { 'berth.managed': 'true' },
    };
    expect(docker.buildArgs(opts)).toEqual([
      'build',
      '-t',
      't:1',
      '-f',
      '/tmp/x/Containerfile',
      '--label',
      'berth.managed=true',
      '/ctx',
    ]);
    expect(docker.buildEnv).toEqual({ DOCKER_BUILDKIT: '0' });
    expect(podman.buildArgs(opts)).toContain('--pull=never');
    expect(apple.buildArgs(opts).slice(0, 5)).toEqual(['build', '-t', 't:1', '-f', '/tmp/x/Containerfile']);
  });
});

describe('image command arguments', () => {
  it('passes build arguments in name order; podman pulls a missing base only when asked', () => {
    const opts = {
      tag: 't:1',
      file: '/tmp/x/Containerfile',
      contextDir: '/ctx',
      labels: {},
      buildArgs: { ZED: 'z', BASE: 'berth-debian:abc' },
    };
    for (const dialect of [docker, podman, apple])
      expect(valuesOf(dialect.buildArgs(opts), '--build-arg')).toEqual(['BASE=berth-debian:abc', 'ZED=z']);
    expect(podman.buildArgs(opts).at(-1)).toBe('/ctx');
    expect(podman.buildArgs({ ...opts, pullMissing: true })).not.toContain('--pull=never');
    expect(docker.buildArgs({ ...opts, pullMissing: true })).toEqual(docker.buildArgs(opts));
  });

  it('imports, tags, lists by label and sizes images on docker and podman', () => {
    for (const dialect of [docker, podman]) {
      expect(dialect.importArgs?.('/cache/rootfs.tar', 'berth-debian:abc')).toEqual([
        'import',
        '/cache/rootfs.tar',
        'berth-debian:abc',
      ]);
      expect(dialect.tagArgs('sha256:ab12', 'berth-agent:t')).toEqual([
        'tag',
        'sha256:ab12',
        'berth-agent:t',
      ]);
      expect(dialect.imagesWithLabelArgs?.('berth.agent.hash', 'h1')).toEqual([
        'images',
        '-q',
        '--no-trunc',
        '--filter',
        'label=berth.agent.hash=h1',
      ]);
      expect(dialect.parseImageIds('sha256:a\nsha256:b\nsha256:a\n')).toEqual(['sha256:a', 'sha256:b']);
      expect(dialect.imageSizeArgs?.('berth-agent:t')).toEqual([
        'image',
        'inspect',
        '--format',
        '{{.Size}}',
        'berth-agent:t',
      ]);
      expect(dialect.parseImageSize('731234567\n')).toBe(731_234_567);
      expect(dialect.parseImageSize('')).toBeUndefined();
    }
    expect(apple.tagArgs('a:1', 'b:2')).toEqual(['image', 'tag', 'a:1', 'b:2']);
  });

  it("answers with a clear error where Apple's CLI has no equivalent", async () => {
    const rt = createRuntime('container', { binary: '/nonexistent/container' });
    await expect(rt.importImage('/cache/rootfs.tar', 'berth-debian:abc')).rejects.toMatchObject({
      code: 'RUNTIME_UNAVAILABLE',
      message: expect.stringContaining('cannot import a root filesystem tarball'),
    });
    await expect(rt.imagesWithLabel('berth.agent.hash', 'h1')).rejects.toMatchObject({
      code: 'RUNTIME_UNAVAILABLE',
    });
    expect(await rt.imageSize('berth-agent:t')).toBeUndefined();
  });

  it('validates references, archive paths, labels and build arguments before running anything', async () => {
    const rt = createRuntime('podman', { binary: '/nonexistent/podman' });
    await expect(rt.importImage('rootfs.tar', 'berth-debian:abc')).rejects.toBeInstanceOf(
      InvalidRunSpecError,
    );
    await expect(rt.importImage('/cache/../etc/x.tar', 'berth-debian:abc')).rejects.toBeInstanceOf(
      InvalidRunSpecError,
    );
    await expect(rt.importImage('/cache/rootfs.tar', '--help')).rejects.toBeInstanceOf(InvalidRunSpecError);
    await expect(rt.tagImage('a:1', 'Bad Tag')).rejects.toBeInstanceOf(InvalidRunSpecError);
    await expect(rt.tagImage('-q', 'b:1')).rejects.toBeInstanceOf(InvalidRunSpecError);
    await expect(rt.imagesWithLabel('berth.agent.hash', 'a,b')).rejects.toBeInstanceOf(InvalidRunSpecError);
    await expect(rt.imageSize('x y')).rejects.toBeInstanceOf(InvalidRunSpecError);
    const build = (buildArgs: Record<string, string>) => () =>
      rt.build({ tag: 't:1', containerfile: 'FROM scratch', contextDir: '/ctx', buildArgs });
    expect(build({ 'BAD-NAME': 'x' })).toThrow(InvalidRunSpecError);
    expect(build({ BASE: 'a\nb' })).toThrow(InvalidRunSpecError);
  });
});

describe('output normalisation', () => {
  it('reads docker ps lines with labels as one string', () => {
    const out = [
      '{"Names":"berth-a-1","State":"running","Labels":"berth.session=a,berth.managed=true"}',
      '{"Names":"other","State":"exited","Labels":""}',
    ].join('\n');
    expect(docker.parseList(out)).toEqual([
      { name: 'berth-a-1', running: true, labels: { 'berth.session': 'a', 'berth.managed': 'true' } },
      { name: 'other', running: false, labels: {} },
    ]);
  });

  it('reads podman ps as one JSON array', () => {
    const out = JSON.stringify([
      { Names: ['berth-a-1'], State: 'running', Labels: { 'berth.session': 'a' } },
      { Names: ['x'], State: 'exited', Labels: null },
    ]);
    expect(podman.parseList(out)).toEqual([
      { name: 'berth-a-1', running: true, labels: { 'berth.session': 'a' } },
      { name: 'x', running: false, labels: {} },
    ]);
    expect(podman.parseList('[]')).toEqual([]);
  });

  it('keeps commas of foreign label values together', () => {
    expect(parseLabelString('a=1,files=x.yml,y.yml,b=2')).toEqual({ a: '1', files: 'x.yml,y.yml', b: '2' });
  });

  it('reads inspect state, including OOM and suspected OOM', () => {
    const inspect = (state: object, memory: number) =>
      JSON.stringify([
        { Name: '/c', State: state, Config: { Labels: { k: 'v' } }, HostConfig: { Memory: memory } },
      ]);
    const oom = docker.parseInspect(
      inspect(
        {
          Status: 'exited',
          Running: false,
          OOMKilled: true,
          ExitCode: 137,
          StartedAt: '2026-01-01T00:00:00Z',
          FinishedAt: '2026-01-01T00:00:01Z',
        },
        16 << 20,
      ),
    );
    expect(oom).toMatchObject({
      exists: true,
      running: false,
      exitCode: 137,
      oomKilled: true,
      oomSuspected: false,
    });
    expect(oom?.labels).toEqual({ k: 'v' });
    const suspected = podman.parseInspect(
      inspect({ Status: 'exited', Running: false, OOMKilled: false, ExitCode: 137 }, 16 << 20),
    );
    expect(suspected).toMatchObject({ oomKilled: false, oomSuspected: true });
    const running = docker.parseInspect(
      inspect({ Status: 'running', Running: true, ExitCode: 0, FinishedAt: '0001-01-01T00:00:00Z' }, 0),
    );
    expect(running).toMatchObject({ running: true, exitCode: null, oomSuspected: false });
    expect(running?.finishedAt).toBeUndefined();
    expect(docker.parseInspect('[]')).toBeUndefined();
  });

  it('reads Apple container snapshots', () => {
    const out = JSON.stringify([
      { status: 'running', configuration: { id: 'berth-a-1', labels: { k: 'v' } } },
    ]);
    expect(apple.parseList(out)).toEqual([{ name: 'berth-a-1', running: true, labels: { k: 'v' } }]);
    expect(apple.parseInspect(out)).toMatchObject({
      exists: true,
      running: true,
      exitCode: null,
      labels: { k: 'v' },
    });
  });

  it('finds bridge gateways in docker and podman network JSON', () => {
    expect(
      docker.parseGateway(JSON.stringify([{ IPAM: { Config: [{ Subnet: '172.17.0.0/16' }] } }])),
    ).toMatchObject({
      gateway: undefined,
      subnet: '172.17.0.0/16',
    });
    expect(
      podman.parseGateway(JSON.stringify([{ subnets: [{ subnet: '10.88.0.0/16', gateway: '10.88.0.1' }] }]))
        .gateway,
    ).toBe('10.88.0.1');
  });
});

describe('errors', () => {
  it('a failed command carries its whole result', () => {
    const err = new RuntimeCommandError({
      binary: 'docker',
      args: ['container', 'inspect', 'x'],
      exitCode: 1,
      signal: null,
      timedOut: false,
      stderrTail: 'some noise\nError: boom\n',
      stdoutTail: '',
    });
    expect(err.code).toBe('RUNTIME_COMMAND_FAILED');
    expect(err.message).toBe('docker container inspect x exited with 1: Error: boom');
    expect(err.args).toEqual(['container', 'inspect', 'x']);
    expect(err.stderrTail).toContain('some noise');
  });
});

describe('detectRuntime', () => {
  // Stand-in executables are only looked up, never run.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'berth-detect-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('says what to install when nothing is on PATH', async () => {
    const err = await detectRuntime('auto', { pathEnv: dir, platform: 'linux' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeMissingError);
    expect((err as RuntimeMissingError).code).toBe('RUNTIME_UNAVAILABLE');
    expect((err as Error).message).toMatch(/install podman \(apt-get install podman\) or docker/);
    expect((err as Error).message).toContain('BERTH_RUNTIME');
  });

  it('names the runtime that was asked for', async () => {
    const err = await detectRuntime('docker', { pathEnv: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeMissingError);
    expect((err as Error).message).toMatch(/^docker was not found on PATH: install docker/);
  });

  it('auto prefers podman, then docker; Apple container only on macOS', async () => {
    const bin = mkdtempSync(path.join(dir, 'bin-'));
    const exe = (n: string) => {
      writeFileSync(path.join(bin, n), '#!/bin/sh\n');
      chmodSync(path.join(bin, n), 0o755);
    };
    exe('container');
    await expect(detectRuntime('auto', { pathEnv: bin, platform: 'linux' })).rejects.toThrow(
      RuntimeMissingError,
    );
    expect((await detectRuntime('auto', { pathEnv: bin, platform: 'darwin' })).name).toBe('container');
    exe('docker');
    const found = await detectRuntime('auto', { pathEnv: bin, platform: 'linux' });
    expect(found.name).toBe('docker');
    expect(found.binary).toBe(path.join(bin, 'docker'));
    exe('podman');
    expect((await detectRuntime('auto', { pathEnv: `${dir}:${bin}`, platform: 'linux' })).name).toBe(
      'podman',
    );
  });
});
