import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { execa } from 'execa';
import { spawnBuild } from './build.ts';
import { FALLBACK_PATH } from './detect.ts';
import type { Dialect } from './dialect.ts';
import { envFileText } from './env.ts';
import { RuntimeCommandError, RuntimeError, RuntimeMissingError, tail } from './errors.ts';
import { gatewayOf } from './gateway.ts';
import { installHint } from './hints.ts';
import { missingState } from './parse.ts';
import type {
  BuildOptions,
  BuildProcess,
  CliExit,
  ContainerRuntime,
  ContainerState,
  ContainerSummary,
  RunningContainer,
  RunSpec,
  RuntimeName,
} from './types.ts';
import {
  assertBuildArgs,
  assertContainerName,
  assertHostFile,
  assertImageRef,
  assertLabels,
} from './validate.ts';

export interface CliRuntimeOptions {
  binary?: string;
  /**
   * The whole environment of CLI calls (PATH, HOME, DOCKER_HOST …); nothing of berth's own
   * environment is inherited. Default: PATH only.
   */
  env?: Record<string, string | undefined>;
  /** Where each run's private env-file directory is made (mode 0700); default the system temp dir. */
  runDir?: string;
  /** Limit for one short CLI call (inspect, ps, rm …). */
  timeoutMs?: number;
  /**
   * Working directory of CLI calls. podman's conmon drops an `oom` marker file into its working
   * directory on cgroups v1, so it must not be berth's (often the project root admins see).
   */
  cwd?: string;
}

interface Outcome {
  ok: boolean;
  stdout: string;
  stderr: string;
  fail: () => RuntimeCommandError;
}

/** One class for every runtime: the Dialect supplies argv and parsing, this runs them via execa. */
export class CliRuntime implements ContainerRuntime {
  readonly name: RuntimeName;
  readonly binary: string;
  private readonly baseEnv: Record<string, string | undefined>;
  private readonly runDir: string;
  private readonly timeoutMs: number;
  private readonly cwd: string;

  constructor(
    private readonly dialect: Dialect,
    opts: CliRuntimeOptions = {},
  ) {
    this.name = dialect.name;
    this.binary = opts.binary ?? dialect.defaultBinary;
    this.baseEnv = opts.env ?? { PATH: FALLBACK_PATH };
    this.runDir = opts.runDir ?? tmpdir();
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.cwd = opts.cwd ?? tmpdir();
  }

  runArgs(spec: RunSpec, envFile?: string): string[] {
    return this.dialect.runArgs(spec, envFile);
  }

  run(spec: RunSpec): RunningContainer {
    mkdirSync(this.runDir, { recursive: true, mode: 0o700 });
    const dir = mkdtempSync(path.join(this.runDir, 'env-'));
    const forget = () => rmSync(dir, { recursive: true, force: true });
    const envFile = path.join(dir, 'env');
    let args: string[];
    try {
      args = this.dialect.runArgs(spec, envFile);
      writeFileSync(envFile, envFileText(spec.env), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      forget();
      throw err;
    }
    const subprocess = execa(this.binary, args, {
      ...this.envOption({}),
      reject: false,
      buffer: false,
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'pipe',
    });
    // The CLI reads its env file before it creates the container: the first output means it is done with it.
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    subprocess.stdout.pipe(stdout);
    subprocess.stderr.pipe(stderr);
    subprocess.stdout.once('data', forget);
    subprocess.stderr.once('data', forget);
    const exited: Promise<CliExit> = subprocess.then((r) => {
      forget();
      return {
        exitCode: r.exitCode ?? null,
        signal: r.signal ?? null,
        ...(r.failed && r.exitCode === undefined && r.signal === undefined
          ? { spawnError: r.cause instanceof Error ? r.cause : new Error(r.shortMessage) }
          : {}),
      };
    });
    return { name: spec.name, pid: subprocess.pid, stdin: subprocess.stdin, stdout, stderr, exited };
  }

  async stop(name: string, graceSeconds: number): Promise<void> {
    assertContainerName(name);
    const grace = Math.max(0, Math.ceil(graceSeconds));
    const stopped = await this.exec(this.dialect.stopArgs(name, grace), (grace + 30) * 1000);
    if (stopped.ok || this.dialect.isNotFound(stopped.stderr)) return;
    // The engine did not confirm the stop (error or timeout): make sure with SIGKILL.
    const killed = await this.exec(this.dialect.killArgs(name));
    if (killed.ok || this.dialect.isNotFound(killed.stderr)) return;
    if ((await this.inspect(name)).running) throw killed.fail();
  }

  async kill(name: string): Promise<void> {
    assertContainerName(name);
    const r = await this.exec(this.dialect.killArgs(name));
    if (r.ok || this.dialect.isNotFound(r.stderr) || this.dialect.isNotRunning(r.stderr)) return;
    throw r.fail();
  }

  async inspect(name: string): Promise<ContainerState> {
    assertContainerName(name);
    const r = await this.exec(this.dialect.inspectArgs(name));
    if (r.ok) return this.dialect.parseInspect(r.stdout) ?? missingState();
    if (this.dialect.isNotFound(r.stderr)) return missingState();
    throw r.fail();
  }

  async remove(name: string): Promise<void> {
    assertContainerName(name);
    const r = await this.exec(this.dialect.removeArgs(name));
    if (r.ok || this.dialect.isNotFound(r.stderr) || /already in progress/i.test(r.stderr)) return;
    throw r.fail();
  }

  async list(labels: Record<string, string>): Promise<ContainerSummary[]> {
    assertLabels(labels);
    const r = await this.exec(this.dialect.listArgs(labels));
    if (!r.ok) throw r.fail();
    const wanted = Object.entries(labels);
    return this.dialect
      .parseList(r.stdout)
      .filter((c) => c.name !== '' && wanted.every(([k, v]) => c.labels[k] === v));
  }

  async imageId(tag: string): Promise<string | undefined> {
    assertImageRef(tag);
    const r = await this.exec(this.dialect.imageIdArgs(tag));
    if (r.ok) return this.dialect.parseImageId(r.stdout);
    if (this.dialect.isNotFound(r.stderr)) return undefined;
    throw r.fail();
  }

  async imageLabels(tag: string): Promise<Record<string, string> | undefined> {
    assertImageRef(tag);
    const r = await this.exec(this.dialect.imageLabelsArgs(tag));
    if (r.ok) return this.dialect.parseImageLabels(r.stdout);
    if (this.dialect.isNotFound(r.stderr)) return undefined;
    throw r.fail();
  }

  async removeImage(tag: string): Promise<void> {
    assertImageRef(tag);
    const r = await this.exec(this.dialect.removeImageArgs(tag));
    if (r.ok || this.dialect.isNotFound(r.stderr)) return;
    throw r.fail();
  }

  async importImage(tarPath: string, tag: string): Promise<void> {
    assertHostFile('image archive', tarPath);
    assertImageRef(tag);
    if (!this.dialect.importArgs) throw this.unsupported('import a root filesystem tarball');
    const r = await this.exec(this.dialect.importArgs(tarPath, tag), 10 * 60_000);
    if (!r.ok) throw r.fail();
  }

  async tagImage(source: string, target: string): Promise<void> {
    assertImageRef(source);
    assertImageRef(target);
    const r = await this.exec(this.dialect.tagArgs(source, target));
    if (!r.ok) throw r.fail();
  }

  async imagesWithLabel(name: string, value: string): Promise<string[]> {
    assertLabels({ [name]: value });
    if (!this.dialect.imagesWithLabelArgs) throw this.unsupported('list images by label');
    const r = await this.exec(this.dialect.imagesWithLabelArgs(name, value));
    if (!r.ok) throw r.fail();
    return this.dialect.parseImageIds(r.stdout);
  }

  async imageSize(tag: string): Promise<number | undefined> {
    assertImageRef(tag);
    if (!this.dialect.imageSizeArgs) return undefined;
    const r = await this.exec(this.dialect.imageSizeArgs(tag));
    if (r.ok) return this.dialect.parseImageSize(r.stdout);
    if (this.dialect.isNotFound(r.stderr)) return undefined;
    throw r.fail();
  }

  async bridgeGateway(): Promise<string | undefined> {
    if (!this.dialect.gatewayArgs) return undefined;
    const r = await this.exec(this.dialect.gatewayArgs);
    if (!r.ok) {
      if (this.dialect.isNotFound(r.stderr)) return undefined;
      throw r.fail();
    }
    return gatewayOf(this.dialect.parseGateway(r.stdout));
  }

  async version(): Promise<string> {
    const r = await this.exec(this.dialect.versionArgs);
    if (!r.ok) throw r.fail();
    return this.dialect.parseVersion(r.stdout);
  }

  build(opts: BuildOptions): BuildProcess {
    assertImageRef(opts.tag);
    const labels = opts.labels ?? {};
    assertLabels(labels);
    assertBuildArgs(opts.buildArgs ?? {});
    const contextDir = path.resolve(opts.contextDir);
    return spawnBuild({
      binary: this.binary,
      containerfile: opts.containerfile,
      args: (file) => this.dialect.buildArgs({ ...opts, file, contextDir, labels }),
      options: this.envOption(this.dialect.buildEnv),
      signal: opts.signal,
      missing: () => this.missing(),
      imageId: () => this.imageId(opts.tag),
    });
  }

  /** Environment and working directory shared by every CLI call. */
  private envOption(extra: Record<string, string>) {
    return { env: { ...this.baseEnv, ...extra }, extendEnv: false as const, cwd: this.cwd };
  }

  private unsupported(what: string): RuntimeError {
    return new RuntimeError('RUNTIME_UNAVAILABLE', `${this.binary} cannot ${what}; use podman or docker`);
  }

  private missing(): RuntimeMissingError {
    return new RuntimeMissingError(`${this.binary} could not be started: ${installHint(this.name)}`);
  }

  private async exec(args: string[], timeoutMs = this.timeoutMs): Promise<Outcome> {
    const r = await execa(this.binary, args, {
      ...this.envOption({}),
      reject: false,
      stdin: 'ignore',
      timeout: timeoutMs,
      forceKillAfterDelay: 2000,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (r.failed && r.code === 'ENOENT') throw this.missing();
    const stdout = typeof r.stdout === 'string' ? r.stdout : '';
    const stderr = typeof r.stderr === 'string' ? r.stderr : '';
    return {
      ok: !r.failed,
      stdout,
      stderr,
      fail: () =>
        new RuntimeCommandError({
          binary: this.binary,
          args,
          exitCode: r.exitCode ?? null,
          signal: r.signal ?? null,
          timedOut: r.timedOut,
          stderrTail: tail(stderr),
          stdoutTail: tail(stdout),
        }),
    };
  }
}
