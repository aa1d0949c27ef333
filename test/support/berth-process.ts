import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * berth as its own process (`src/main.ts`, as in production), so a crash or a kill -9 is real.
 * Its log goes to a file; `exits` records every exit that the test did not ask for.
 */
export class BerthProcess {
  readonly url: string;
  readonly logFile: string;
  readonly dataDir: string;
  readonly exits: Array<{ code: number | null; signal: string | null }> = [];
  #proc: ChildProcess | undefined;
  #expectExit = false;
  readonly #env: Record<string, string>;

  constructor(port: number, env: Record<string, string>, dataDir?: string) {
    this.dataDir = dataDir ?? mkdtempSync(path.join(tmpdir(), 'berth-proc-data-'));
    this.url = `http://127.0.0.1:${port}`;
    this.logFile = path.join(mkdtempSync(path.join(tmpdir(), 'berth-proc-log-')), 'berth.log');
    this.#env = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: process.env.HOME ?? '/root',
      BERTH_PORT: String(port),
      BERTH_DATA_DIR: this.dataDir,
      BERTH_AGENT: 'echo',
      BERTH_LOG_LEVEL: 'info',
      BERTH_MOUNT_ALLOWLIST: path.join(this.dataDir, 'no-allowlist.json'),
      BERTH_PROJECT_ROOT: this.dataDir,
      BERTH_STOP_GRACE_MS: '1000',
      BERTH_RECONCILE_INTERVAL_MS: '2000',
      ...env,
    };
    this.#env.BERTH_API_TOKEN ??= 'fault-token';
  }

  /** The settings another instance of the same installation would share (not port or data dir). */
  get sharedEnv(): Record<string, string> {
    const { BERTH_PORT, BERTH_DATA_DIR, BERTH_MOUNT_ALLOWLIST, BERTH_PROJECT_ROOT, ...rest } = this.#env;
    return rest;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  async start(): Promise<void> {
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: this.#env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.pipe(log);
    proc.stderr!.pipe(log);
    this.#proc = proc;
    this.#expectExit = false;
    proc.on('exit', (code, signal) => {
      if (!this.#expectExit) this.exits.push({ code, signal });
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`berth exited at start; see ${this.logFile}`);
      const ok = await fetch(`${this.url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`berth did not answer /healthz; see ${this.logFile}`);
      await sleep(100);
    }
  }

  /** kill -9: no shutdown, no requeue; the next process (or another instance) must recover. */
  async kill9(): Promise<void> {
    await this.#stopWith('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.#stopWith('SIGTERM');
  }

  async #stopWith(signal: NodeJS.Signals): Promise<void> {
    const proc = this.#proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    this.#expectExit = true;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill(signal);
    await exited;
  }

  api(p: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
    const { json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${this.#env.BERTH_API_TOKEN}`);
    if (json !== undefined) headers.set('content-type', 'application/json');
    return fetch(`${this.url}${p}`, {
      ...rest,
      headers,
      signal: AbortSignal.timeout(15_000),
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
  }
}
