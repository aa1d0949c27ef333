import { Buffer } from 'node:buffer';
import { execFileSync, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { WebSocket } from 'ws';
import { encodeMessage, encodeStart, FrameParser, newFrameNonce } from '../../src/protocol/frames.ts';
import { type ContainerRuntime, createRuntime, type RunSpec } from '../../src/runtime/index.ts';
import setupPostgres from '../support/global-setup.ts';
import { createDatabase } from '../support/service.ts';
import type { Memory, Ready, Request } from './server-process.ts';

export type BenchRuntime = 'podman' | 'docker';

export interface BenchDatabase {
  kind: 'postgres' | 'pglite';
  url: string | undefined;
  close(): Promise<void>;
}

/** A throwaway PostgreSQL cluster started by the test suite's global setup, else PGlite in the data dir. */
export async function startDatabase(): Promise<BenchDatabase> {
  let base: string | undefined;
  const project = { provide: (_key: string, value: string | undefined) => (base = value) };
  const teardown = await setupPostgres(project as unknown as TestProject);
  if (!base) return { kind: 'pglite', url: undefined, close: async () => {} };
  return {
    kind: 'postgres',
    url: await createDatabase(base, 'bench'),
    close: async () => teardown?.(),
  };
}

export interface BenchServer {
  url: string;
  /** The bearer token of the bench's requests. */
  token: string;
  dataDir: string;
  /** berth's process id: its RSS and its attached runtime CLI children are measured by pid. */
  pid: number;
  /** Label value on every container this server starts. */
  installId: string;
  /** The database, kind and server version. */
  database: string;
  api(path: string, init?: { method?: string; json?: unknown }): Promise<Response>;
  /** Starts the bare-Fastify baseline in berth's process, inserting into `sessionId`; returns its URL. */
  bare(sessionId: string): Promise<string>;
  closeBare(): Promise<void>;
  /** berth's RSS and heap (plus external) after two full garbage collections. */
  memory(): Promise<Memory>;
  close(): Promise<void>;
}

const serverEntry = fileURLToPath(new URL('./server-process.ts', import.meta.url));

/**
 * The real service on 127.0.0.1:0 in echo mode, with limits high enough for the concurrency rows, in a
 * process of its own (with --expose-gc), so the bench's clients and load generators never share its event loop.
 */
export async function startBerth(
  runtime: BenchRuntime,
  image: string,
  databaseUrl?: string,
  /** Writes a V8 CPU profile of berth's process into this directory when it exits. */
  cpuProfDir?: string,
): Promise<BenchServer> {
  const env: Record<string, string> = {
    BERTH_API_TOKEN: 'bench-token',
    BERTH_AGENT: 'echo',
    BERTH_RUNTIME: runtime,
    BERTH_IMAGE: image,
    BERTH_MAX_CONTAINERS: '64',
    BERTH_STOP_GRACE_MS: '1000',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
  };
  const child = fork(serverEntry, [], {
    execArgv: [
      '--expose-gc',
      '--import',
      'tsx',
      ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : []),
    ],
    env: { ...process.env, BENCH_BERTH_ENV: JSON.stringify(env) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let ids = 0;
  const ready = new Promise<Ready>((resolve, reject) => {
    child.on('message', (msg: Ready | { id: number; result?: unknown; error?: string }) => {
      if ('type' in msg) return resolve(msg);
      const w = waiting.get(msg.id);
      waiting.delete(msg.id);
      if (msg.error !== undefined) w?.reject(new Error(`berth process: ${msg.error}`));
      else w?.resolve(msg.result);
    });
    child.once('exit', (code, signal) => {
      const err = new Error(`berth process exited (${code ?? signal})`);
      reject(err);
      for (const w of waiting.values()) w.reject(err);
    });
  });
  const call = <T>(req: DistributiveOmit<Request, 'id'>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const id = ++ids;
      waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ ...req, id });
    });
  const started = await ready;
  const { url, token, dataDir, installId, database } = started;
  return {
    url,
    token,
    dataDir,
    installId,
    database,
    pid: child.pid!,
    api(p, init = {}) {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (init.json !== undefined) headers['content-type'] = 'application/json';
      return fetch(`${url}${p}`, {
        method: init.method ?? 'GET',
        headers,
        ...(init.json !== undefined ? { body: JSON.stringify(init.json) } : {}),
      });
    },
    bare: async (sessionId) => (await call<{ url: string }>({ type: 'bare', sessionId })).url,
    closeBare: async () => void (await call({ type: 'bare-close' })),
    memory: () => call<Memory>({ type: 'memory' }),
    async close() {
      keepAlive.destroy();
      await call({ type: 'close' });
      child.disconnect();
      // Session containers are kept after exit (their exit is inspected); the bench removes its own.
      const rt = createRuntime(runtime);
      for (const c of await rt.list({ 'berth.install': installId }))
        await rt.remove(c.name).catch((err: Error) => console.warn(`removing ${c.name}: ${err.message}`));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

export async function newSession(
  b: Pick<BenchServer, 'api'>,
  containerConfig?: Record<string, unknown>,
): Promise<string> {
  const folder = `b${randomBytes(5).toString('hex')}`;
  const g = await b.api('/v1/groups', {
    method: 'POST',
    json: { name: folder, folder, ...(containerConfig ? { containerConfig } : {}) },
  });
  if (g.status !== 201) throw new Error(`create group answered ${g.status}: ${await g.text()}`);
  const { id: groupId } = (await g.json()) as { id: string };
  const s = await b.api('/v1/sessions', { method: 'POST', json: { groupId } });
  if (s.status !== 201) throw new Error(`create session answered ${s.status}: ${await s.text()}`);
  return ((await s.json()) as { id: string }).id;
}

// node:http on kept-alive sockets: a lighter client than fetch, so less of its own time lands in the figures.
const keepAlive = new http.Agent({ keepAlive: true });

export function postMessage(
  b: Pick<BenchServer, 'url' | 'token'>,
  sessionId: string,
  text: string,
): Promise<void> {
  const body = JSON.stringify({ text });
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${b.url}/v1/sessions/${sessionId}/messages`,
      {
        method: 'POST',
        agent: keepAlive,
        headers: {
          authorization: `Bearer ${b.token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          res.statusCode === 202
            ? resolve()
            : reject(new Error(`POST message answered ${res.statusCode}: ${Buffer.concat(chunks)}`)),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Stops the session's container so later rows start from the same number of running sessions. */
export async function stopSession(b: BenchServer, sessionId: string): Promise<void> {
  const res = await b.api(`/v1/sessions/${sessionId}/stop`, { method: 'POST' });
  if (res.status !== 200) throw new Error(`POST stop answered ${res.status}: ${await res.text()}`);
  await res.arrayBuffer();
}

interface ApiEvent {
  seq: number;
  kind: string;
  data: Record<string, unknown>;
}

/** Long-polls events after `after` until `count` events of `kinds` arrived; returns them and the cursor. */
export async function awaitEvents(
  b: Pick<BenchServer, 'api'>,
  sessionId: string,
  after: number,
  count: number,
  kinds = 'output',
  timeoutMs = 60_000,
): Promise<{ events: ApiEvent[]; next: number }> {
  const deadline = Date.now() + timeoutMs;
  const events: ApiEvent[] = [];
  let cursor = after;
  while (events.length < count) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`session ${sessionId}: ${events.length}/${count} ${kinds} events in time`);
    const q = new URLSearchParams({
      after: String(cursor),
      wait: String(Math.min(left, 5000)),
      limit: '500',
      kinds,
    });
    const res = await b.api(`/v1/sessions/${sessionId}/events?${q}`);
    if (res.status !== 200) throw new Error(`GET events answered ${res.status}`);
    const page = (await res.json()) as { items: ApiEvent[]; nextAfter: number };
    events.push(...page.items);
    cursor = page.nextAfter;
  }
  return { events, next: cursor };
}

/** Output events of a session as they arrive over the WebSocket stream, one at a time. */
export async function streamOutputs(
  b: BenchServer,
  sessionId: string,
  after: number,
): Promise<{ next(): Promise<ApiEvent>; close(): void }> {
  const url = `${b.url.replace(/^http/, 'ws')}/v1/sessions/${sessionId}/stream?after=${after}&kinds=output`;
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${b.token}` } });
  const queued: ApiEvent[] = [];
  let waiter: ((event: ApiEvent) => void) | undefined;
  ws.on('message', (raw) => {
    const event = JSON.parse(String(raw)) as ApiEvent & { type: string };
    if (event.type !== 'event') throw new Error(`stream sent ${event.type}`);
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(event);
    } else queued.push(event);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    next: () => {
      const ready = queued.shift();
      return ready ? Promise.resolve(ready) : new Promise((resolve) => (waiter = resolve));
    },
    close: () => ws.close(),
  };
}

/** A container the bench runs itself with the same hardened argv berth builds, talking NDJSON on stdin. */
export interface RawAgent {
  /** Sends one message and resolves with the ms until its reply frame. */
  ask(text: string): Promise<number>;
  close(): Promise<void>;
}

export function rawSpec(image: string): RunSpec {
  return {
    name: `bench-raw-${randomBytes(6).toString('hex')}`,
    image,
    labels: { 'berth.bench': 'raw' },
    env: {
      HOME: '/workspace',
      TZ: 'UTC',
      BERTH_AGENT: 'echo',
      BERTH_HEARTBEAT_MS: '5000',
    },
    mounts: [],
    user: '1000:1000',
    memoryMb: 1024,
    cpus: 1,
    pids: 256,
    tmpfs: ['/tmp:rw,size=64m', '/workspace:rw,size=16m'],
    workdir: '/workspace',
  };
}

/** Starts `<runtime> run -i --pull=never …` from runtime.runArgs(spec) via the runtime layer's own spawn. */
export function startRawAgent(runtime: ContainerRuntime, image: string): RawAgent {
  const nonce = newFrameNonce();
  const spec = rawSpec(image);
  const proc = runtime.run(spec);
  proc.stdin.write(encodeStart(nonce));
  const parser = new FrameParser(nonce);
  const waiting = new Map<string, () => void>();
  proc.stdout.on('data', (chunk: Buffer) => {
    for (const item of parser.push(chunk)) {
      if (item.kind === 'frame' && item.frame.type === 'reply') waiting.get(item.frame.inReplyTo)?.();
    }
  });
  proc.stderr.resume();
  let n = 0;
  return {
    ask(text: string) {
      const id = `m${++n}`;
      const started = performance.now();
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`raw ${runtime.name} gave no reply in 60 s`)),
          60_000,
        );
        waiting.set(id, () => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(performance.now() - started);
        });
        proc.exited.then(() => reject(new Error(`raw ${runtime.name} run exited before replying`)));
        proc.stdin.write(encodeMessage({ id, seq: n, text }));
      });
    },
    async close() {
      proc.stdin.end();
      await runtime.kill(spec.name).catch(() => {});
      await Promise.race([proc.exited, sleep(10_000)]);
      await runtime.remove(spec.name).catch(() => {});
    },
  };
}

/** Removes raw containers a failed run left behind. */
export async function removeRawLeftovers(runtime: ContainerRuntime): Promise<void> {
  for (const c of await runtime.list({ 'berth.bench': 'raw' })) await runtime.remove(c.name).catch(() => {});
}

/** Resident set size of a pid in MB, from /proc. */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** RSS summed over the direct children of `pid` named `comm` (the attached runtime CLI processes). */
export function childrenRssMb(pid: number, comm: string): { count: number; mb: number } {
  let count = 0;
  let mb = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid || readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== comm) continue;
      mb += rssMb(Number(entry));
      count++;
    } catch {
      // The process exited during the scan: nothing to count.
    }
  }
  return { count, mb };
}

/** RSS summed over the runtime's per-container monitors (podman's conmon) whose command line names one of `ids`. */
export function monitorRssMb(ids: string[]): { count: number; mb: number } {
  let count = 0;
  let mb = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'conmon') continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!ids.some((id) => cmdline.includes(id))) continue;
      mb += rssMb(Number(entry));
      count++;
    } catch {
      // The process exited during the scan: nothing to count.
    }
  }
  return { count, mb };
}

/** RSS of an otherwise empty node process, the floor any node service starts from. */
export async function emptyNodeRssMb(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
  await sleep(500);
  const mb = rssMb(child.pid!);
  child.kill('SIGKILL');
  return mb;
}

export function runtimeVersion(runtime: BenchRuntime): string {
  try {
    return execFileSync(runtime, ['version', '--format', '{{.Client.Version}}'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}
