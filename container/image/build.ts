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
import { execa } from 'execa';
import { debianRootfs } from './debian.ts';
import { type Entry, entriesHash } from './hash.ts';

const requireHere = createRequire(import.meta.url);

export type BuildRuntime = 'podman' | 'docker';
export type BuildMode = 'offline' | 'registry';

export interface BuildOptions {
  runtime: BuildRuntime;
  tag: string;
  /** Unset: `registry` when REGISTRY_BASE is present locally, else `offline`. */
  mode?: BuildMode;
  log?: (line: string) => void;
}

export interface BuildResult {
  runtime: BuildRuntime;
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

async function runtimeCommand(runtime: BuildRuntime, args: string[]): Promise<string> {
  const env = runtime === 'docker' ? { DOCKER_BUILDKIT: '0' } : {};
  const res = await execa(runtime, args, { env, reject: false, all: true, stdin: 'ignore' });
  if (res.exitCode !== 0)
    throw new ImageBuildError(
      `${runtime} ${args.slice(0, 2).join(' ')} failed (exit ${res.exitCode}):\n${res.all}`,
    );
  return res.stdout;
}

async function inspect(
  runtime: BuildRuntime,
  ref: string,
): Promise<{ id: string; labels: Record<string, string> }> {
  const res = await execa(runtime, ['image', 'inspect', '--format', '{{.Id}} {{json .Config.Labels}}', ref], {
    reject: false,
    stdin: 'ignore',
  });
  if (res.exitCode !== 0) return { id: '', labels: {} };
  const [id = '', json = 'null'] = res.stdout.trim().split(/ (.*)/s);
  return { id, labels: (JSON.parse(json) as Record<string, string> | null) ?? {} };
}

export async function defaultMode(runtime: BuildRuntime): Promise<BuildMode> {
  return (await inspect(runtime, REGISTRY_BASE)).id ? 'registry' : 'offline';
}

interface Context {
  dir: string;
  hash: string;
  labels: string[];
  buildArgs: string[];
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
  runtime: BuildRuntime,
  runnerDir: string,
  log: (line: string) => void,
): Promise<Context> {
  const dir = path.join(BUILD_DIR, 'offline');
  await mkdir(dir, { recursive: true });
  const containerfile = await readFile(path.join(containerDir, 'Containerfile.offline'), 'utf8');
  const debian = await debianRootfs(log);
  const base = `${DEBIAN_BASE_REPO}:${debian.hash.slice(0, 16)}`;
  if (!(await inspect(runtime, base)).id) {
    log(`${runtime}: importing ${base} from ${debian.tar}`);
    await runtimeCommand(runtime, ['import', debian.tar, base]);
  }
  const entries = await agentFiles(dir, runnerDir, true);
  const hash = await entriesHash(
    entries,
    path.join(BUILD_DIR, 'hash-cache.json'),
    containerfile + debian.hash,
  );
  await writeIfChanged(path.join(dir, 'Containerfile'), containerfile);
  return { dir, hash, labels: [`berth.agent.node=${process.version}`], buildArgs: [`BASE=${base}`] };
}

/** Registry context: the user-facing Containerfile on top of REGISTRY_BASE, plus the agent files. */
async function registryContext(runtime: BuildRuntime, runnerDir: string): Promise<Context> {
  const dir = path.join(BUILD_DIR, 'registry');
  await mkdir(dir, { recursive: true });
  const containerfile = await readFile(path.join(containerDir, 'Containerfile'), 'utf8');
  await writeIfChanged(path.join(dir, 'Containerfile'), containerfile);
  const entries = await agentFiles(dir, runnerDir, false);
  const base = (await inspect(runtime, REGISTRY_BASE)).id;
  const hash = await entriesHash(entries, path.join(BUILD_DIR, 'hash-cache.json'), containerfile + base);
  return { dir, hash, labels: [], buildArgs: [] };
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
  if (before.labels[HASH_LABEL] === ctx.hash) {
    log(`${runtime}: ${tag} is up to date (${mode}, ${ctx.hash.slice(0, 12)})`);
    return { runtime, tag, mode, hash: ctx.hash, built: false };
  }
  // The same inputs built under another tag (CI builds `latest`, then the tests' tag): tag that image.
  const twin = (
    await runtimeCommand(runtime, ['images', '-q', '--filter', `label=${HASH_LABEL}=${ctx.hash}`])
  )
    .split('\n')
    .find(Boolean);
  if (twin) {
    await runtimeCommand(runtime, ['tag', twin, tag]);
    if (before.id && !before.id.includes(twin))
      await execa(runtime, ['rmi', before.id], { reject: false, stdin: 'ignore' });
    log(`${runtime}: tagged ${tag} from an identical image (${ctx.hash.slice(0, 12)})`);
    return { runtime, tag, mode, hash: ctx.hash, built: false };
  }
  log(`${runtime}: building ${tag} (${mode}, ${ctx.hash.slice(0, 12)})`);
  const labels = [`${HASH_LABEL}=${ctx.hash}`, `berth.agent.build=${mode}`, ...ctx.labels];
  const args = ['build', '-f', path.join(ctx.dir, 'Containerfile'), '-t', tag];
  for (const label of labels) args.push('--label', label);
  for (const arg of ctx.buildArgs) args.push('--build-arg', arg);
  if (runtime === 'podman' && mode === 'offline') args.push('--pull=never');
  await runtimeCommand(runtime, [...args, ctx.dir]);
  const after = await inspect(runtime, tag);
  // The replaced image would linger untagged; removal fails harmlessly while other tags or containers use it.
  if (before.id && before.id !== after.id)
    await execa(runtime, ['rmi', before.id], { reject: false, stdin: 'ignore' });
  log(`${runtime}: built ${tag}`);
  return { runtime, tag, mode, hash: ctx.hash, built: true };
}
