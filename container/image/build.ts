import { existsSync } from 'node:fs';
import {
  copyFile,
  link,
  mkdir,
  readdir,
  readFile,
  realpath,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type ContainerRuntime, RuntimeCommandError, type RuntimeName } from '../../src/runtime/index.ts';
import { debianRootfs } from './debian.ts';
import { type Entry, entriesHash } from './hash.ts';

const requireHere = createRequire(import.meta.url);

export type BuildMode = 'offline' | 'registry';

export interface BuildOptions {
  /** From createRuntime/detectRuntime: every engine command goes through it. */
  runtime: ContainerRuntime;
  tag: string;
  /** Unset: `registry` when REGISTRY_BASE is present locally, else `offline`. */
  mode?: BuildMode;
  log?: (line: string) => void;
}

export interface BuildResult {
  runtime: RuntimeName;
  tag: string;
  mode: BuildMode;
  hash: string;
  /** False when the existing image already carried this hash. */
  built: boolean;
}

export const HASH_LABEL = 'berth.agent.hash';
export const REGISTRY_BASE = 'node:22-bookworm-slim';
/** Repository of the imported Debian base images, tagged by the rootfs recipe's hash. */
export const DEBIAN_BASE_REPO = 'berth-debian';

const containerDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BUILD_DIR = path.join(containerDir, '.build');

export class ImageBuildError extends Error {
  override name = 'ImageBuildError';
  readonly code = 'IMAGE_BUILD_FAILED';
}

/** Writes only when the content differs, so mtimes (and hash caches) stay put. */
async function writeIfChanged(file: string, content: string | Uint8Array): Promise<void> {
  // No file yet: it is written.
  const old = await readFile(file).catch(() => undefined);
  if (old?.equals(Buffer.from(content))) return;
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}

/**
 * Bundles the runner into ESM chunks for plain `node`: main.mjs loads the Agent SDK (a 1.4 MB chunk)
 * only in claude mode, so the echo agent starts as fast as before. Stale chunks are removed.
 */
export async function bundleRunner(outDir: string): Promise<void> {
  const result = await build({
    entryPoints: [path.join(containerDir, 'agent', 'main.ts')],
    bundle: true,
    splitting: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    chunkNames: '[name]-[hash]',
    // Bundled CommonJS dependencies call require(); ESM has none unless we make one.
    banner: {
      js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);",
    },
    write: false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  await mkdir(outDir, { recursive: true });
  const keep = new Set(result.outputFiles.map((f) => path.basename(f.path)));
  for (const name of await readdir(outDir)) if (!keep.has(name)) await rm(path.join(outDir, name));
  for (const file of result.outputFiles) await writeIfChanged(file.path, file.contents);
}

async function inspect(
  runtime: ContainerRuntime,
  ref: string,
): Promise<{ id: string; labels: Record<string, string> }> {
  const id = await runtime.imageId(ref);
  if (!id) return { id: '', labels: {} };
  return { id, labels: (await runtime.imageLabels(ref)) ?? {} };
}

/** docker prints ids with `sha256:`, podman without. */
const bareId = (id: string) => id.replace(/^sha256:/, '');

export async function defaultMode(runtime: ContainerRuntime): Promise<BuildMode> {
  return (await runtime.imageId(REGISTRY_BASE)) ? 'registry' : 'offline';
}

interface Context {
  dir: string;
  containerfile: string;
  hash: string;
  labels: Record<string, string>;
  buildArgs: Record<string, string>;
}

/** The Claude Code native binary from the SDK's platform package (glibc x64: the image is Debian). */
export function claudeBinary(): string {
  const pkg = '@anthropic-ai/claude-agent-sdk-linux-x64';
  try {
    return path.join(path.dirname(requireHere.resolve(`${pkg}/package.json`)), 'claude');
  } catch {
    throw new ImageBuildError(`${pkg} is not installed: run \`npm ci\` on linux x64`);
  }
}

/** Puts a host file into the build context: a hard link when possible (no copy of 450 MB), else a copy. */
async function stage(source: string, target: string): Promise<void> {
  // No target yet: it is created.
  const [from, to] = await Promise.all([stat(source), stat(target).catch(() => undefined)]);
  if (to && to.ino === from.ino && to.dev === from.dev) return;
  await rm(target, { force: true });
  await link(source, target).catch(() => copyFile(source, target));
}

/** The files every agent image carries on top of its base: node (offline only), Claude Code, the runner. */
async function agentFiles(dir: string, runnerDir: string, withNode: boolean): Promise<Entry[]> {
  await mkdir(path.join(dir, 'runner'), { recursive: true });
  const entries: Entry[] = [];
  const add = async (source: string, name: string) => {
    await stage(source, path.join(dir, name));
    entries.push({ path: name, source, mode: 0o755 });
  };
  if (withNode) {
    // The image gets the binary running this build, so that binary has to be node.
    if (process.release.name !== 'node' || 'deno' in process.versions || 'bun' in process.versions)
      throw new ImageBuildError('run the offline image build under node (npm run image)');
    await add(await realpath(process.execPath), 'node');
  }
  await add(claudeBinary(), 'claude');
  for (const name of (await readdir(path.join(dir, 'runner'))).filter(
    (n) => !existsSync(path.join(runnerDir, n)),
  ))
    await rm(path.join(dir, 'runner', name));
  for (const name of (await readdir(runnerDir)).sort())
    await add(path.join(runnerDir, name), `runner/${name}`);
  return entries;
}

/** Offline context: a Debian base imported from the cached debootstrap rootfs, plus the agent files. */
async function offlineContext(
  runtime: ContainerRuntime,
  runnerDir: string,
  log: (line: string) => void,
): Promise<Context> {
  const dir = path.join(BUILD_DIR, 'offline');
  await mkdir(dir, { recursive: true });
  const containerfile = await readFile(path.join(containerDir, 'Containerfile.offline'), 'utf8');
  const debian = await debianRootfs(log);
  const base = `${DEBIAN_BASE_REPO}:${debian.hash.slice(0, 16)}`;
  if (!(await runtime.imageId(base))) {
    log(`${runtime.name}: importing ${base} from ${debian.tar}`);
    await runtime.importImage(debian.tar, base);
  }
  const entries = await agentFiles(dir, runnerDir, true);
  const hash = await entriesHash(
    entries,
    path.join(BUILD_DIR, 'hash-cache.json'),
    containerfile + debian.hash,
  );
  return {
    dir,
    containerfile,
    hash,
    labels: { 'berth.agent.node': process.version },
    buildArgs: { BASE: base },
  };
}

/** Registry context: the user-facing Containerfile on top of REGISTRY_BASE, plus the agent files. */
async function registryContext(runtime: ContainerRuntime, runnerDir: string): Promise<Context> {
  const dir = path.join(BUILD_DIR, 'registry');
  await mkdir(dir, { recursive: true });
  const containerfile = await readFile(path.join(containerDir, 'Containerfile'), 'utf8');
  const entries = await agentFiles(dir, runnerDir, false);
  const base = (await runtime.imageId(REGISTRY_BASE)) ?? '';
  const hash = await entriesHash(entries, path.join(BUILD_DIR, 'hash-cache.json'), containerfile + base);
  return { dir, containerfile, hash, labels: {}, buildArgs: {} };
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
  const runnerDir = path.join(BUILD_DIR, 'runner');
  await bundleRunner(runnerDir);
  const ctx =
    mode === 'offline'
      ? await offlineContext(runtime, runnerDir, log)
      : await registryContext(runtime, runnerDir);
  const before = await inspect(runtime, tag);
  const done = (built: boolean) => ({ runtime: runtime.name, tag, mode, hash: ctx.hash, built });
  if (before.labels[HASH_LABEL] === ctx.hash) {
    log(`${runtime.name}: ${tag} is up to date (${mode}, ${ctx.hash.slice(0, 12)})`);
    return done(false);
  }
  // The same inputs built under another tag (CI builds `latest`, then the tests' tag): tag that image.
  const [twin] = await runtime.imagesWithLabel(HASH_LABEL, ctx.hash);
  if (twin) {
    await runtime.tagImage(twin, tag);
    if (before.id && bareId(before.id) !== bareId(twin)) await dropReplaced(runtime, before.id, log);
    log(`${runtime.name}: tagged ${tag} from an identical image (${ctx.hash.slice(0, 12)})`);
    return done(false);
  }
  log(`${runtime.name}: building ${tag} (${mode}, ${ctx.hash.slice(0, 12)})`);
  const build = runtime.build({
    tag,
    containerfile: ctx.containerfile,
    contextDir: ctx.dir,
    labels: { [HASH_LABEL]: ctx.hash, 'berth.agent.build': mode, ...ctx.labels },
    buildArgs: ctx.buildArgs,
    // The offline base is local by construction; a registry build may fetch its FROM image.
    pullMissing: mode === 'registry',
  });
  const after = await build.done.catch((err: Error) => {
    const output = err instanceof RuntimeCommandError ? `\n${err.stderrTail}` : '';
    throw new ImageBuildError(`${runtime.name} build failed: ${err.message}${output}`);
  });
  if (before.id && before.id !== after.imageId) await dropReplaced(runtime, before.id, log);
  log(`${runtime.name}: built ${tag}`);
  return done(true);
}

/** The replaced image would linger untagged; removal fails harmlessly while other tags or containers use it. */
async function dropReplaced(
  runtime: ContainerRuntime,
  id: string,
  log: (line: string) => void,
): Promise<void> {
  await runtime
    .removeImage(id)
    .catch((err: Error) =>
      log(`${runtime.name}: kept the replaced image ${id.slice(0, 19)}: ${err.message}`),
    );
}
