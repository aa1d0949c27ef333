import { lstat, opendir, statfs } from 'node:fs/promises';
import path from 'node:path';
import { AppError } from '../errors.ts';

/** Why a run is stopped for space: its own folder is over quota, or the data dir's file system is nearly full. */
export type QuotaBreach =
  | { type: 'quota_exceeded'; usedBytes: number; limitBytes: number }
  | { type: 'disk_low'; freeBytes: number; reserveBytes: number };

export interface QuotaWatchOptions {
  dataDir: string;
  quotaBytes: number;
  reserveBytes: number;
  intervalMs: number;
  /** Ends the run with reason `quota`; the watch has already stopped tracking it. */
  stop(sessionId: string, breach: QuotaBreach): void;
  log: { warn(obj: object, msg: string): void };
}

/**
 * Disk a directory tree uses (allocated blocks, so sparse files count what they occupy), walked
 * without following symlinks; stops counting once past `limit`. Entries count one block each at
 * least, so a million empty files are not free.
 */
export async function diskUsage(dir: string, limit = Number.POSITIVE_INFINITY): Promise<number> {
  // A folder that is gone uses nothing.
  const root = await lstat(dir).catch(() => undefined);
  if (!root?.isDirectory()) return 0;
  let used = 0;
  const pending = [dir];
  while (pending.length > 0 && used <= limit) {
    const current = pending.pop()!;
    const handle = await opendir(current).catch(() => undefined); // removed while walking: nothing to count
    if (!handle) continue;
    for await (const entry of handle) {
      const full = path.join(current, entry.name);
      // Removed while walking: nothing to count.
      const st = await lstat(full).catch(() => undefined);
      if (!st) continue;
      used += Math.max(st.blocks * 512, 512);
      // Same device only: a mount inside the folder is someone else's disk.
      if (st.isDirectory() && st.dev === root.dev) pending.push(full);
    }
  }
  return used;
}

/** Free bytes for unprivileged writers on the file system holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const fs = await statfs(dir);
  return fs.bavail * fs.bsize;
}

/**
 * Measures each running session's folder and the data dir's free space every interval. A session
 * past its quota is stopped; when free space falls below the reserve every tracked run is stopped,
 * so a full workspace cannot starve the embedded database that shares the file system.
 */
export class QuotaWatch {
  readonly #opts: QuotaWatchOptions;
  readonly #runs = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #busy = false;

  constructor(opts: QuotaWatchOptions) {
    this.#opts = opts;
  }

  start(): void {
    this.#timer = setInterval(() => void this.check(), this.#opts.intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  track(sessionId: string, folder: string): void {
    this.#runs.set(sessionId, folder);
  }

  untrack(sessionId: string): void {
    this.#runs.delete(sessionId);
  }

  /** True when the data dir's file system has less free space than the reserve. */
  async diskLow(): Promise<QuotaBreach | undefined> {
    const free = await freeBytes(this.#opts.dataDir);
    return free < this.#opts.reserveBytes
      ? { type: 'disk_low', freeBytes: free, reserveBytes: this.#opts.reserveBytes }
      : undefined;
  }

  /** Refuses a wake while the data dir is below its reserve. */
  async assertRoom(): Promise<void> {
    const low = await this.diskLow();
    if (low?.type === 'disk_low')
      throw new AppError(
        'DISK_LOW',
        `the data dir has ${low.freeBytes} bytes free, under the reserve of ${low.reserveBytes} (BERTH_DISK_RESERVE_MB)`,
      );
  }

  /** One pass; overlapping passes are skipped, since a slow walk must not pile up. */
  async check(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const low = await this.diskLow();
      for (const [sessionId, folder] of [...this.#runs]) {
        const breach = low ?? (await this.#overQuota(folder));
        if (!breach) continue;
        this.#runs.delete(sessionId);
        this.#opts.stop(sessionId, breach);
      }
    } catch (err) {
      this.#opts.log.warn({ err }, 'measuring workspaces failed');
    } finally {
      this.#busy = false;
    }
  }

  async #overQuota(folder: string): Promise<QuotaBreach | undefined> {
    const used = await diskUsage(folder, this.#opts.quotaBytes);
    return used > this.#opts.quotaBytes
      ? { type: 'quota_exceeded', usedBytes: used, limitBytes: this.#opts.quotaBytes }
      : undefined;
  }
}
