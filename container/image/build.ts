import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type ContainerRuntime, RuntimeCommandError } from '../../src/runtime/index.ts';
import { entriesHash } from './hash.ts';
import { findBusybox, rootfsEntries } from './rootfs.ts';
import { writeTar } from './tar.ts';

export type BuildMode = 'offline' | 'registry';

export interface BuildOptions {
  runtime: ContainerRuntime;
  tag: string;
  /** Unset: `registry` when REGISTRY_BASE is present locally, else `offline`. */
  mode?: BuildMode;
  /** Progress messages. */
  log?: (line: string) => void;
  /** The engine's build output, line by line. */
  output?: (line: string) => void;
}

export interface BuildResult {
  tag: string;
  mode: BuildMode;
  hash: string;
  /** False when the existing image already carried this hash. */
  built: boolean;
}

const HASH_LABEL = 'berth.agent.hash';
const REGISTRY_BASE = 'node:20-slim';

const containerDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BUILD_DIR = path.join(containerDir, '.build');

export class ImageBuildError extends Error {
  override name = 'ImageBuildError';
  readonly code = 'IMAGE_BUILD_FAILED';
}

/** Writes only when the content differs, so mtimes (and hash caches) stay put. */
async function writeIfChanged(file: string, content: string | Uint8Array): Promise<void> {
  // A missing file simply differs.
  const old = await readFile(file).catch(() => undefined);
  if (old?.equals(Buffer.from(content))) return;
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}

/** Bundles the runner and its imports into one CommonJS file for plain `node`. */
async function bundleRunner(outFile: string): Promise<void> {
  const result = await build({
    entryPoints: [path.join(containerDir, 'agent', 'main.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  await writeIfChanged(outFile, result.outputFiles[0]!.contents);
}

async function defaultMode(runtime: ContainerRuntime): Promise<BuildMode> {
  return (await runtime.imageId(REGISTRY_BASE)) ? 'registry' : 'offline';
}

interface Context {
  dir: string;
  containerfile: string;
  hash: string;
  labels: Record<string, string>;
}

/** Offline context: rootfs.tar assembled from this machine plus Containerfile.offline. */
async function offlineContext(runnerJs: string): Promise<Context> {
  const dir = path.join(BUILD_DIR, 'offline');
  await mkdir(dir, { recursive: true });
  const containerfile = await readFile(path.join(containerDir, 'Containerfile.offline'), 'utf8');
  // The image gets the binary running this build, so that binary has to be node.
  if (process.release.name !== 'node' || 'deno' in process.versions || 'bun' in process.versions)
    throw new ImageBuildError('run the offline image build under node (npm run image)');
  const entries = rootfsEntries({ node: process.execPath, busybox: findBusybox(), runnerJs });
  const hash = await entriesHash(entries, path.join(BUILD_DIR, 'hash-cache.json'), containerfile);
  const tar = path.join(dir, 'rootfs.tar');
  const stamp = path.join(dir, 'rootfs.tar.hash');
  // No stamp yet means no tar yet.
  if ((await readFile(stamp, 'utf8').catch(() => '')) !== hash) {
    const tmp = `${tar}.${process.pid}.tmp`;
    await writeTar(tmp, entries);
    await rename(tmp, tar);
    await writeIfChanged(stamp, hash);
  }
  return { dir, containerfile, hash, labels: { 'berth.agent.node': process.version } };
}

/** Registry context: the user-facing Containerfile on top of REGISTRY_BASE. */
async function registryContext(runtime: ContainerRuntime, runnerJs: string): Promise<Context> {
  const dir = path.join(BUILD_DIR, 'registry');
  await mkdir(dir, { recursive: true });
  const containerfile = await readFile(path.join(containerDir, 'Containerfile'), 'utf8');
  await copyFile(runnerJs, path.join(dir, 'runner.js'));
  const base = (await runtime.imageId(REGISTRY_BASE)) ?? '';
  const hash = createHash('sha256')
    .update(containerfile)
    .update(await readFile(runnerJs))
    .update(base)
    .digest('hex');
  return { dir, containerfile, hash, labels: {} };
}

/** Builds (or keeps) the agent image; skips the build when the tag already carries the inputs' hash. */
export async function buildAgentImage(options: BuildOptions): Promise<BuildResult> {
  const { runtime, tag } = options;
  const log = options.log ?? (() => {});
  const mode = options.mode ?? (await defaultMode(runtime));
  await mkdir(BUILD_DIR, { recursive: true });
  // Generated output (the bundled runner, hash caches) is not project source: keep the linter out.
  await writeIfChanged(
    path.join(BUILD_DIR, 'biome.json'),
    '{ "root": false, "files": { "includes": ["**", "!**"] } }\n',
  );
  // The bundle is CommonJS; without this the repository's "type": "module" would claim it.
  await writeIfChanged(path.join(BUILD_DIR, 'package.json'), '{ "type": "commonjs" }\n');
  const runnerJs = path.join(BUILD_DIR, 'runner.js');
  await bundleRunner(runnerJs);
  const ctx = mode === 'offline' ? await offlineContext(runnerJs) : await registryContext(runtime, runnerJs);
  const before = await runtime.imageId(tag);
  if (before && (await runtime.imageLabels(tag))?.[HASH_LABEL] === ctx.hash) {
    log(`${runtime.name}: ${tag} is up to date (${mode}, ${ctx.hash.slice(0, 12)})`);
    return { tag, mode, hash: ctx.hash, built: false };
  }
  log(`${runtime.name}: building ${tag} (${mode}, ${ctx.hash.slice(0, 12)})`);
  const build = runtime.build({
    tag,
    containerfile: ctx.containerfile,
    contextDir: ctx.dir,
    labels: { [HASH_LABEL]: ctx.hash, 'berth.agent.build': mode, ...ctx.labels },
  });
  for await (const { line } of build) options.output?.(line);
  const after = await build.done.catch((err: unknown) => {
    const detail = err instanceof RuntimeCommandError ? `\n${err.stderrTail}` : '';
    throw new ImageBuildError(`${runtime.name} build failed: ${(err as Error).message}${detail}`);
  });
  // The replaced image would linger untagged; removal fails while other tags or containers use it.
  if (before && before !== after.imageId)
    await runtime
      .removeImage(before)
      .catch((err: Error) => log(`kept the old image ${before}: ${err.message}`));
  log(`${runtime.name}: built ${tag}`);
  return { tag, mode, hash: ctx.hash, built: true };
}
