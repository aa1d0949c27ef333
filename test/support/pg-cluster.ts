import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';

/** The PostgreSQL binaries of this machine, or undefined when none is installed. */
export function pgBin(): string | undefined {
  for (const version of ['17', '16', '15']) {
    const dir = `/usr/lib/postgresql/${version}/bin`;
    if (existsSync(path.join(dir, 'initdb'))) return dir;
  }
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/**
 * A private PostgreSQL cluster that a test may stop, kill and start again (the shared cluster of the
 * run must stay up for everyone else). initdb refuses root, so as root it runs as the postgres user.
 */
export class PgCluster {
  readonly dir: string;
  readonly url: string;
  readonly #bin: string;
  readonly #data: string;
  readonly #port: number;

  private constructor(bin: string, dir: string, port: number) {
    this.#bin = bin;
    this.dir = dir;
    this.#data = path.join(dir, 'data');
    this.#port = port;
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  }

  static async create(): Promise<PgCluster> {
    const bin = pgBin();
    if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
    const dir = mkdtempSync(path.join(tmpdir(), 'berth-pgc-'));
    if (process.getuid?.() === 0) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
    const cluster = new PgCluster(bin, dir, await freePort());
    cluster.#run('initdb', ['-D', cluster.#data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    cluster.start();
    return cluster;
  }

  start(): void {
    this.#run('pg_ctl', [
      '-D',
      this.#data,
      '-o',
      `-p ${this.#port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`,
      '-l',
      path.join(this.dir, 'log'),
      '-w',
      'start',
    ]);
  }

  /** `fast` disconnects clients cleanly; `immediate` is the closest to a crash pg_ctl offers. */
  stop(mode: 'fast' | 'immediate' = 'fast'): void {
    this.#run('pg_ctl', ['-D', this.#data, '-m', mode, '-w', 'stop']);
  }

  destroy(): void {
    try {
      this.stop('immediate');
    } catch {
      // Already stopped: nothing to stop.
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  #run(cmd: string, args: string[]): void {
    const full = path.join(this.#bin, cmd);
    const argv =
      process.getuid?.() === 0
        ? ['su', 'postgres', '-s', '/bin/sh', '-c', [full, ...args].map((a) => `'${a}'`).join(' ')]
        : [full, ...args];
    const res = spawnSync(argv[0]!, argv.slice(1), { stdio: 'pipe', encoding: 'utf8', timeout: 60_000 });
    if (res.status !== 0) throw new Error(`${cmd} ${args[0]} failed: ${res.stderr || res.stdout}`);
  }
}
