import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { type ContainerRuntime, onLines } from '../runtime/index.ts';
import type { Store } from '../store/db.ts';
import { getGroup } from '../store/groups.ts';
import {
  createImageBuild,
  failOrphanedBuilds,
  finishImageBuild,
  getImageBuild,
  markBuildRunning,
  recordReusedBuild,
  saveBuildOutput,
  setGroupImage,
} from '../store/image-builds.ts';
import type { ImageBuildRow } from '../store/schema.ts';
import { type BaseKind, baseKindOf, containerfile, imageTag } from './containerfile.ts';
import { BuildOutput } from './output.ts';
import { type PackageRequest, validatePackages } from './validate.ts';

export interface ImageBuilderDeps {
  store: Store;
  runtime: ContainerRuntime | undefined;
  runtimeProblem?: string;
  /** The base agent image tag (BERTH_IMAGE). */
  baseImage: string;
  installId: string;
  instanceId: string;
  timeoutMs: number;
  /** PATH the host's npm is looked up on. */
  /** The whole environment of the host-side npm install (config.cliEnv): no berth secret reaches it. */
  cliEnv: Record<string, string>;
  log: Logger;
  metrics?: Metrics;
}

const FLUSH_MS = 1000;

interface Active {
  controller: AbortController;
  /** Why the build was aborted: a DELETE, the build timeout or the service closing. */
  reason?: 'cancelled' | 'timeout' | 'shutdown';
  done: Promise<void>;
  output: BuildOutput;
}

/**
 * Builds a group's derived agent image: validates the names, picks the template from the base
 * image's label, builds through the runtime (one build per group, enforced by the database),
 * and points the group's containerConfig.image at the result.
 */
export class ImageBuilder {
  readonly #deps: ImageBuilderDeps;
  readonly #active = new Map<string, Active>();

  constructor(deps: ImageBuilderDeps) {
    this.#deps = deps;
  }

  /** Marks builds of dead predecessors failed; they block their group's next build otherwise. */
  async recover(isDeadOwner: (instanceId: string) => boolean): Promise<void> {
    const count = await failOrphanedBuilds(this.#deps.store.db, isDeadOwner);
    if (count > 0) this.#deps.log.warn({ count }, 'image builds interrupted by a restart marked failed');
  }

  /** `reused`: an identical image exists, the group now uses it and nothing is built. */
  async request(
    groupId: string,
    input: Partial<PackageRequest>,
  ): Promise<{ build: ImageBuildRow; reused: boolean }> {
    const pkgs = validatePackages(input);
    const { db } = this.#deps.store;
    const group = await getGroup(db, groupId);
    const runtime = this.#runtime();
    const base = this.#deps.baseImage;
    const baseId = await runtime.imageId(base);
    const labels = baseId ? await runtime.imageLabels(base) : undefined;
    if (!baseId || !labels)
      throw new AppError(
        'IMAGE_UNAVAILABLE',
        `base agent image ${base} is not present in ${runtime.name}: build it with \`npm run image\``,
      );
    const kind = baseKindOf(labels);
    const tag = imageTag(group.folder, baseId, pkgs);
    const row = { groupId, tag, packages: pkgs, ownerInstance: this.#deps.instanceId };
    if (await runtime.imageId(tag)) {
      const build = await db.transaction(async (tx) => {
        await setGroupImage(tx, groupId, tag);
        return recordReusedBuild(tx, row);
      });
      return { build, reused: true };
    }
    const build = await createImageBuild(db, row);
    const controller = new AbortController();
    const active: Active = { controller, done: Promise.resolve(), output: new BuildOutput() };
    active.done = this.#run(build, kind, runtime, active).catch((err) =>
      this.#deps.log.warn({ err, buildId: build.id }, 'image build bookkeeping failed'),
    );
    this.#active.set(build.id, active);
    void active.done.finally(() => this.#active.delete(build.id));
    return { build, reused: false };
  }

  /** The live output of a build this instance is running, for viewers; undefined otherwise. */
  output(buildId: string): BuildOutput | undefined {
    return this.#active.get(buildId)?.output;
  }

  get(groupId: string, buildId: string): Promise<ImageBuildRow> {
    return getImageBuild(this.#deps.store.db, groupId, buildId);
  }

  /** Cancels an active build and answers it once it has ended; false when it had already ended. */
  async cancel(groupId: string, buildId: string): Promise<{ build: ImageBuildRow; cancelled: boolean }> {
    const { db } = this.#deps.store;
    const build = await getImageBuild(db, groupId, buildId);
    if (build.status !== 'queued' && build.status !== 'running') return { build, cancelled: false };
    const active = this.#active.get(buildId);
    if (active) {
      active.reason ??= 'cancelled';
      active.controller.abort();
      await active.done;
    } else {
      // Another instance runs it: its bookkeeping stops at the status check when it ends.
      await finishImageBuild(db, buildId, { status: 'cancelled', error: 'cancelled' });
    }
    return { build: await getImageBuild(db, groupId, buildId), cancelled: true };
  }

  /** The group's agent falls back to the base image on its next wake. */
  async clear(groupId: string): Promise<void> {
    const { db } = this.#deps.store;
    await getGroup(db, groupId);
    await setGroupImage(db, groupId, undefined);
  }

  /** Aborts this instance's builds (recorded as failed) and waits for their clean-up. */
  async close(): Promise<void> {
    for (const active of this.#active.values()) {
      active.reason ??= 'shutdown';
      active.controller.abort();
    }
    await Promise.all([...this.#active.values()].map((a) => a.done));
  }

  #runtime(): ContainerRuntime {
    if (this.#deps.runtime) return this.#deps.runtime;
    throw new AppError(
      'RUNTIME_UNAVAILABLE',
      this.#deps.runtimeProblem ?? 'no container runtime is available',
    );
  }

  async #run(build: ImageBuildRow, kind: BaseKind, runtime: ContainerRuntime, active: Active): Promise<void> {
    const { db } = this.#deps.store;
    const { signal } = active.controller;
    const timer = setTimeout(() => {
      active.reason ??= 'timeout';
      active.controller.abort();
    }, this.#deps.timeoutMs);
    const tail = active.output;
    let flushed = '';
    const flush = setInterval(() => {
      if (tail.text === flushed) return;
      flushed = tail.text;
      void saveBuildOutput(db, build.id, flushed).catch((err: unknown) =>
        this.#deps.log.warn(
          { err, buildId: build.id },
          'saving build output failed; the final save stores it',
        ),
      );
    }, FLUSH_MS);
    const context = await mkdtemp(path.join(tmpdir(), 'berth-group-image-'));
    try {
      await markBuildRunning(db, build.id);
      if (kind === 'offline' && build.packages.npm.length > 0)
        await this.#npmInstall(context, build.packages.npm, signal, tail);
      signal.throwIfAborted();
      const proc = runtime.build({
        tag: build.tag,
        containerfile: containerfile(this.#deps.baseImage, kind, build.packages),
        contextDir: context,
        labels: {
          'berth.managed': 'true',
          'berth.install': this.#deps.installId,
          'berth.group': build.groupId,
        },
        signal,
      });
      for await (const { line } of proc) tail.push(line);
      await proc.done;
      await db.transaction(async (tx) => {
        if (await finishImageBuild(tx, build.id, { status: 'succeeded', outputTail: tail.text }))
          await setGroupImage(tx, build.groupId, build.tag);
      });
      tail.end({ status: 'succeeded', error: null });
      this.#deps.metrics?.imageBuild('succeeded');
      this.#deps.log.info({ buildId: build.id, tag: build.tag }, 'group image built');
    } catch (err) {
      const reason = active.reason;
      const error =
        reason === 'cancelled'
          ? 'cancelled'
          : reason === 'timeout'
            ? `timed out after ${this.#deps.timeoutMs} ms (BERTH_BUILD_TIMEOUT_MS)`
            : reason === 'shutdown'
              ? 'interrupted by shutdown'
              : (err as Error).message;
      const status = reason === 'cancelled' ? 'cancelled' : 'failed';
      await finishImageBuild(db, build.id, { status, error, outputTail: tail.text });
      tail.end({ status, error });
      this.#deps.metrics?.imageBuild(reason === 'timeout' ? 'timeout' : status);
      // A partial image must not be mistaken for a finished one by the next identical request.
      await runtime
        .removeImage(build.tag)
        .catch((err: unknown) =>
          this.#deps.log.warn({ err, tag: build.tag }, 'removing a partial image failed'),
        );
    } finally {
      clearTimeout(timer);
      clearInterval(flush);
      await rm(context, { recursive: true, force: true });
    }
  }

  /** The offline base has no npm inside: packages are installed on the host into the build context. */
  async #npmInstall(context: string, names: string[], signal: AbortSignal, tail: BuildOutput): Promise<void> {
    const args = [
      'install',
      '--prefix',
      path.join(context, 'npm'),
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      ...names,
    ];
    tail.push(`$ npm ${args.join(' ')}`);
    const subprocess = execa('npm', args, {
      cwd: context,
      env: this.#deps.cliEnv,
      extendEnv: false,
      reject: false,
      buffer: false,
      all: true,
      stdin: 'ignore',
      cancelSignal: signal,
      forceKillAfterDelay: 5000,
    });
    let last = '';
    const drained = onLines(subprocess.all, (line) => {
      if (line === '') return;
      tail.push(line);
      last = line;
    });
    const [result] = await Promise.all([subprocess, drained]);
    if (result.failed)
      throw new Error(`npm install on the host failed (exit ${result.exitCode ?? result.signal}): ${last}`);
  }
}
